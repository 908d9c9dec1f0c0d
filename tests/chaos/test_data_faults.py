"""Data faults in chaos runs (a wiped disk, a dropped collection) repaired by real backups and restores,
and runs against a gateway that is already running (`rgw chaos run --config/--gateway`)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rgw.chaos.scenario import load_scenario
from rgw.topology import Topology, local_topology
from tests.chaos.test_scenarios import chaos

TOKEN = "chaos-attach-token"

ATTACHED = """
name = "drop-and-restore"
description = "The primary's collection dropped behind the gateway's back, then restored from a backup."

[load]
duration_s = 12
read_rate = 20
write_rate = 4
preload = 300
collection = "attached_run"

[[faults]]
at_s = 1
action = "backup"
target = "primary"

[[faults]]
at_s = 3
action = "drop"
target = "primary"
phase = "dropped"

[[faults]]
at_s = 6
action = "restore"
target = "primary"
max_rate = 20
phase = "restoring"

[expect]
acked_writes_lost = 0
max_convergence_s = 10

[expect.modes]
# Degraded modes are allowed: what this scenario proves is the attached run, not the routing.
baseline = ["normal", "failover", "cache", "lexical"]
dropped = ["normal", "failover", "cache", "lexical"]
restoring = ["normal", "failover", "partial", "cache", "lexical"]
"""


def _phase(card: dict, name: str) -> dict:
    return next(p for p in card["phases"] if p["name"] == name)


def test_restore_serving_wipes_the_primary_and_restores_it_for_real(tmp_path: Path) -> None:
    run = chaos("run", "restore-serving", "--short", "--json", "--report", str(tmp_path / "report"))
    assert run.returncode == 0, f"violated an expectation:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    card = json.loads(run.stdout)
    steps = {e["action"]: e for e in card["events"] if e["due"] is not None}
    assert {"backup", "wipe", "restore"} <= set(steps) and all(e["ok"] for e in steps.values())
    assert steps["restore"]["done"] > steps["restore"]["started"]  # followed to the job's end
    restoring = _phase(card, "restoring")
    assert restoring["modes"].get("partial", 0) > 0
    assert 0.5 <= restoring["min_coverage"] < 1.0  # partial answers carry their true coverage
    assert card["requests"]["failed_unexcused"] == 0
    assert card["acked_writes_lost"] == 0
    assert card["verify"]["exit_code"] == 0  # the restored primary holds exactly what the journal says


def test_an_emptied_primary_stops_giving_full_answers_and_is_restored(tmp_path: Path) -> None:
    run = chaos("run", "primary-emptied", "--short", "--json")
    assert run.returncode == 0, f"violated an expectation:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    card = json.loads(run.stdout)
    expect = load_scenario("primary-emptied").expect
    emptied = _phase(card, "emptied")
    assert emptied["modes"].get("failover", 0) > 0  # the gateway saw the copy short and went elsewhere
    assert card["failover_s"] is not None and card["failover_s"] <= expect.max_failover_s
    restoring = _phase(card, "restoring")
    assert restoring["modes"].get("normal", 0) > 0  # the restored primary answers again
    assert card["requests"]["full_answers_from_lost_data"] <= expect.max_answers_from_lost_data
    assert card["requests"]["full_answers_short"] <= expect.max_short_answers
    assert card["acked_writes_lost"] == 0 and card["verify"]["exit_code"] == 0


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Topology]:
    topology = local_topology(tmp_path / "running")
    topology.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    with topology:
        yield topology


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_a_run_against_a_running_gateway_restores_and_leaves_it_as_found(running: Topology, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RGW_ADMIN_TOKEN", TOKEN)
    path = tmp_path / "attached.toml"
    path.write_text(ATTACHED)
    pids = {name: m.pid for name, m in running.stores.items()} | {"gateway": running.gateway.pid}

    run = chaos("run", str(path), "--config", str(running.config_path), "--json")

    assert run.returncode == 0, f"violated an expectation:\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    card = json.loads(run.stdout)
    assert [e["action"] for e in card["events"]] == ["backup", "drop", "restore"]
    assert all(e["ok"] for e in card["events"])
    assert card["acked_writes_lost"] == 0 and card["verify"]["exit_code"] == 0
    assert _phase(card, "dropped")["modes"].get("failover", 0) > 0
    # Nothing of ours was restarted, and the run's collection and policy are gone again.
    assert all(m.alive() for m in (*running.stores.values(), running.gateway))
    assert {name: m.pid for name, m in running.stores.items()} | {"gateway": running.gateway.pid} == pids
    assert not _get(f"{running.gateway_url}/collections/attached_run/exists")["result"]["exists"]
    policies = _get(f"{running.gateway_url}/gateway/policies")
    assert policies.get("attached_run", {}).get("override") is None


ADMIN_ONLY = """
[load]
duration_s = 4
preload = 100

[[faults]]
at_s = 1
action = "drain"
target = "secondary"

[expect.modes]
baseline = ["normal", "failover"]
"""


def test_an_attached_run_refuses_what_it_cannot_do_before_sending_anything(running: Topology,
                                                                           tmp_path: Path) -> None:
    refused = chaos("run", "restore-serving", "--config", str(running.config_path), env={"RGW_ADMIN_TOKEN": TOKEN})
    assert refused.returncode == 2
    assert "wipe primary" in refused.stderr and "need processes" in refused.stderr
    far = chaos("run", "primary-kill", "--gateway", "http://10.1.2.3:6333")
    assert far.returncode == 2 and "loopback" in far.stderr
    badly_named = chaos("run", "primary-emptied", "--config", str(running.config_path), "--collection", "a b/c")
    assert badly_named.returncode == 2 and "load.collection" in badly_named.stderr
    path = tmp_path / "admin-only.toml"
    path.write_text(ADMIN_ONLY)
    untokened = chaos("run", str(path), "--gateway", running.gateway_url, env={"RGW_ADMIN_TOKEN": ""})
    assert untokened.returncode == 2 and "admin token" in untokened.stderr
    assert all(m.alive() for m in (*running.stores.values(), running.gateway))
    assert not _get(f"{running.gateway_url}/collections/articles/exists")["result"]["exists"]
