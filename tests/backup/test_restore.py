"""Back up, lose a region, restore it: nothing the journal holds is lost, and routing never lies meanwhile."""

from __future__ import annotations

from pathlib import Path

from qdrant_client import models

from rgw.topology import Topology
from tests.backup.helpers import (
    COLLECTION,
    create,
    region_count,
    restore_under_way,
    rgw,
    rgw_json,
    status,
    wait_converged,
    wait_for,
    wipe_region,
    write,
)
from tests.journal.ingest import region_points
from tests.proxy.helpers import connect


def assert_same_as_secondary(topology: Topology) -> None:
    primary = region_points(topology.store_url("primary"), COLLECTION)
    secondary = region_points(topology.store_url("secondary"), COLLECTION)
    assert primary.keys() == secondary.keys(), f"{len(primary.keys() ^ secondary.keys())} ids differ"
    differing = [i for i in primary if primary[i] != secondary[i]]
    assert differing == [], f"{len(differing)} points differ, e.g. {differing[:3]}"


def test_backup_wipe_restore_loses_nothing(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 2000))
    wait_converged(topo)
    bundle = rgw_json(topo, "backup", "create", "--collection", COLLECTION)
    assert bundle["state"] == "done"
    manifest = bundle["result"]
    assert manifest["points_count"] == 2000 and manifest["region"] == "primary"

    # After the backup: new points, new versions, a payload change and deletes, all journaled.
    write(topo, range(2000, 2500))
    write(topo, range(0, 100), version=1)
    client = connect(topo.gateway_url)
    client.set_payload(COLLECTION, payload={"flag": "after-backup"}, points=[150, 151], wait=False)
    client.delete(COLLECTION, points_selector=models.PointIdsList(points=[160, 161, 162]), wait=False)
    wait_converged(topo)

    wipe_region(topo, "primary")
    write(topo, range(2500, 2600))  # journaled while the primary has no such collection: dead-lettered there
    wait_for(lambda: region_count(topo, "secondary") == 2597, 30, "the secondary to apply the last writes")
    wait_for(lambda: any(r["replication"]["dead_letters_total"] for r in status(topo)["regions"]), 30,
             "the primary's applier to dead-letter writes to the missing collection")

    restored = rgw_json(topo, "restore", "--collection", COLLECTION, "--to", "primary")
    result = restored["result"]
    assert restored["state"] == "done", restored
    assert result["start_lsn"] == manifest["lsn"] and result["points"] == 2597
    assert result["check"]["equal"] and result["check"]["reference"] == "secondary"
    assert region_count(topo, "primary") == 2597
    assert_same_as_secondary(topo)
    primary = region_points(topo.store_url("primary"), COLLECTION)
    assert primary[5][0]["version"] == 1 and primary[150][0]["flag"] == "after-backup" and 161 not in primary

    after = status(topo)
    region = next(r for r in after["regions"] if r["name"] == "primary")
    assert region["replication"]["held"] == {} and region["replication"]["dead_letters_total"] == 0
    assert not region["replication"]["diverged"]
    assert after["operator"]["restoring"] == {}

    # Handed back to replication: new writes reach the restored copy.
    write(topo, range(3000, 3010))
    wait_for(lambda: region_count(topo, "primary") == 2607, 30, "the restored primary to take new writes")


def test_damaged_bundle_fails_verify_and_restore(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 300))
    wait_converged(topo)
    path = Path(rgw_json(topo, "backup", "create", "--collection", COLLECTION)["result"]["path"])
    assert rgw(topo, "backup", "verify", str(path)).returncode == 0

    snapshot = path / "snapshot"
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0x01
    snapshot.write_bytes(bytes(data))
    verified = rgw(topo, "backup", "verify", str(path))
    assert verified.returncode == 1
    assert "snapshot: sha256" in verified.stdout and "damaged" in verified.stdout

    restore = rgw(topo, "restore", "--collection", COLLECTION, "--to", "primary")
    assert restore.returncode == 1
    assert "damaged" in restore.stderr and "snapshot: sha256" in restore.stderr
    assert region_count(topo, "primary") == 300  # refused before touching anything

    manifest = path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"points_count": 300', '"points_count": 301'))
    verified = rgw(topo, "backup", "verify", str(path))
    assert verified.returncode == 1 and "manifest checksum mismatch" in verified.stdout


def interrupt_a_restore(topology: Topology) -> int:
    """Back up, write 300 more entries, wipe the primary, start a paced restore and kill the gateway mid-replay.

    Returns the bundle's LSN."""
    # 300 entries of one point to replay, at 40 a second.
    lsn, command = restore_under_way(topology, range(0, 500), range(500, 800), batch=1, max_rate=40, replayed=60)
    topology.gateway.kill()
    _, stderr = command.communicate(timeout=30)
    assert command.returncode == 1 and "cannot reach the gateway" in stderr
    topology.gateway.start()
    interrupted = status(topology)["backups"]["interrupted_restores"]
    assert [(p["collection"], p["region"], p["phase"]) for p in interrupted] == [(COLLECTION, "primary", "replay")]
    held = next(r for r in status(topology)["regions"] if r["name"] == "primary")["replication"]["held"]
    assert held[COLLECTION] > lsn  # the replay's progress survived the restart
    assert status(topology)["operator"]["restoring"][COLLECTION]["primary"]
    return lsn


def test_restore_killed_halfway_resumes(topo: Topology) -> None:
    interrupt_a_restore(topo)
    resumed = rgw_json(topo, "restore", "--collection", COLLECTION, "--to", "primary", "--resume")
    assert resumed["state"] == "done" and resumed["result"]["check"]["equal"]
    assert region_count(topo, "primary") == 800
    assert_same_as_secondary(topo)
    after = status(topo)
    assert after["backups"]["interrupted_restores"] == [] and after["operator"]["restoring"] == {}


def test_interrupted_restore_rolls_back(topo: Topology) -> None:
    interrupt_a_restore(topo)
    rolled = rgw_json(topo, "restore", "--collection", COLLECTION, "--to", "primary", "--rollback")
    assert rolled["rolled_back"] is True
    assert region_count(topo, "primary") is None  # the half-made copy is gone, not half-routed
    after = status(topo)
    primary = next(r for r in after["regions"] if r["name"] == "primary")
    assert primary["replication"]["held"] == {} and after["operator"]["restoring"] == {}
    assert after["backups"]["interrupted_restores"] == []
    # Reads keep working from the other region.
    client = connect(topo.gateway_url)
    assert client.count(COLLECTION, exact=True).count == 800
    client.close()


def test_restore_as_another_name_makes_an_isolated_copy_and_leaves_the_live_one_alone(topo: Topology) -> None:
    create(topo)
    write(topo, range(0, 1000))
    wait_converged(topo)
    rgw_json(topo, "backup", "create", "--collection", COLLECTION)
    write(topo, range(1000, 1200))  # after the bundle: replayed from the journal into the copy
    wait_converged(topo)
    copy = f"{COLLECTION}_copy"

    restored = rgw_json(topo, "restore", "--collection", COLLECTION, "--to", "primary", "--as", copy)
    assert restored["state"] == "done", restored
    assert region_points(topo.store_url("primary"), copy) == region_points(topo.store_url("primary"), COLLECTION)
    assert region_count(topo, "primary", copy) == 1200
    assert region_count(topo, "secondary", copy) is None  # only on the region it was restored to
    # The live collection was never held or marked: it keeps answering from the primary.
    after = status(topo)
    assert after["operator"]["restoring"] == {}
    assert next(r for r in after["regions"] if r["name"] == "primary")["replication"]["held"] == {}
    client = connect(topo.gateway_url)
    assert client.count(COLLECTION, exact=True).count == 1200
    client.close()
