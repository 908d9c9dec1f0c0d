"""Drills, rebuilds from the journal, retention and scheduled backups."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from rgw.topology import Topology
from tests.backup.helpers import (
    COLLECTION,
    TOKEN,
    create,
    region_count,
    rgw,
    rgw_json,
    status,
    wait_converged,
    wait_for,
    write,
)
from tests.journal.ingest import region_points


def test_drill_passes_then_fails_on_a_bundle_missing_payloads(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 1500))
    wait_converged(topo)
    rgw_json(topo, "backup", "create", "--collection", COLLECTION)
    write(topo, range(1500, 1700))  # the drill replays these from the journal

    drill = rgw_json(topo, "drill", "--collection", COLLECTION)
    result = drill["result"]
    assert result["ok"], result["checks"]
    assert {c["name"] for c in result["checks"]} == {"point count", "points present", "payloads complete",
                                                     "vectors identical", "payload filters", "query top-k overlap",
                                                     "access rules"}
    assert result["rpo"]["seconds"] == 0.0 and result["rto_s"] > 0
    report = Path(result["report"]["markdown"])
    assert "PASSED" in report.read_text()
    assert json.loads(Path(result["report"]["json"]).read_text())["ok"] is True
    listed = httpx.get(f"{topo.store_url('primary')}/collections").json()["result"]["collections"]
    assert [c["name"] for c in listed] == [COLLECTION]  # the isolated copy was removed

    # A backup taken from a region that lost payloads behind the gateway's back.
    cleared = httpx.post(f"{topo.store_url('secondary')}/collections/{COLLECTION}/points/payload/clear?wait=true",
                         json={"filter": {"must": [{"key": "n", "range": {"lt": 40}}]}})
    assert cleared.status_code == 200
    rgw_json(topo, "backup", "create", "--collection", COLLECTION, "--region", "secondary")
    failed = rgw(topo, "drill", "--collection", COLLECTION, "--region", "primary", "--json")
    assert failed.returncode == 1
    checks = {c["name"]: c for c in json.loads(failed.stdout)["result"]["checks"]}
    assert not checks["payloads complete"]["ok"]
    assert checks["payloads complete"]["detail"].startswith("40 points with payload missing or different")
    assert checks["points present"]["ok"] and checks["vectors identical"]["ok"]
    human = rgw(topo, "drill", "--collection", COLLECTION, "--region", "primary")
    assert human.returncode == 1 and "FAILED payloads complete: 40 points" in human.stdout


def test_rebuild_from_the_journal_alone(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 1000))
    write(topo, range(0, 50), version=2)
    wait_converged(topo)
    rebuilt = rgw_json(topo, "rebuild", "--collection", COLLECTION, "--to", "secondary")
    result = rebuilt["result"]
    assert rebuilt["state"] == "done" and result["source"] == "journal" and result["check"]["equal"]
    assert result["points"] == 1000 and result["points_per_s"] > 0
    assert region_points(topo.store_url("secondary"), COLLECTION) == region_points(topo.store_url("primary"),
                                                                                   COLLECTION)


def test_journal_is_kept_back_to_the_oldest_bundle(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 200))
    wait_converged(topo)
    lsn = rgw_json(topo, "backup", "create", "--collection", COLLECTION)["result"]["lsn"]
    write(topo, range(200, 400))
    wait_converged(topo)
    head = status(topo)["journal"]["head_lsn"]
    trimmed = httpx.post(f"{topo.gateway_url}/gateway/admin/journal/trim", json={"below": head + 1},
                         headers={"Authorization": f"Bearer {TOKEN}"}).json()["result"]
    assert trimmed["trimmed_below"] == lsn + 1
    assert status(topo)["journal"]["oldest_lsn"] == lsn + 1


SCHEDULED = f"""
[policies.collections.{COLLECTION}]
backup_interval_s = 1.0
backup_keep = 2
"""


@pytest.mark.gateway_config(SCHEDULED)
def test_scheduled_backups_follow_policy_and_retention(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 100))

    def backups_taken() -> int:
        return sum(1 for j in status(topo)["backups"]["jobs"] if j["kind"] == "backup" and j["state"] == "done")

    wait_for(lambda: backups_taken() >= 4, 60, "four scheduled backups")
    bundles = rgw_json(topo, "backup", "list", "--collection", COLLECTION)
    assert len(bundles) == 2  # backup_keep
    assert all(b["points_count"] == 100 for b in bundles)
    assert region_count(topo, "primary") == 100


def test_drill_keep_leaves_the_checked_copy_in_place(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 800))
    wait_converged(topo)
    rgw_json(topo, "backup", "create", "--collection", COLLECTION)
    write(topo, range(800, 900))
    wait_converged(topo)

    result = rgw_json(topo, "drill", "--collection", COLLECTION, "--keep")["result"]
    assert result["ok"] and result["kept"], result
    copy = result["copy"]
    assert copy.startswith(f"{COLLECTION}-drill-")
    listed = httpx.get(f"{topo.store_url('primary')}/collections").json()["result"]["collections"]
    assert sorted(c["name"] for c in listed) == sorted([COLLECTION, copy])
    # What was checked is still there to look at: the bundle plus the replayed journal, equal to the live one.
    assert region_points(topo.store_url("primary"), copy) == region_points(topo.store_url("primary"), COLLECTION)
    assert "Isolated copy kept" in Path(result["report"]["markdown"]).read_text()
