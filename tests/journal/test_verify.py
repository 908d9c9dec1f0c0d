"""`rgw verify`: drift made behind the gateway's back is found exactly, and `--repair` undoes it."""

from __future__ import annotations

import asyncio
import math
import random
import subprocess
import sys
from typing import Any

import orjson
from qdrant_client import models

from rgw.journal.log import Pending, SqliteJournal
from rgw.journal.scan import point_digest
from rgw.journal.truth import lineages, touched_ids
from rgw.topology import Topology
from tests.journal.ingest import Ingest, create_collection, wait_converged
from tests.proxy.helpers import DIM, connect


def vector(i: int) -> list[float]:
    rng = random.Random(i)
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def payload(i: int) -> dict[str, Any]:
    return {"n": i, "group": i % 5, "text": f"document {i}", "tags": ["a", "b"][: i % 3]}


def create(topology: Topology, name: str, points: int, distance: models.Distance = models.Distance.COSINE) -> None:
    client = connect(topology.gateway_url)
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=distance))
    for start in range(0, points, 250):
        client.upsert(name, wait=True, points=[models.PointStruct(id=i, vector=vector(i), payload=payload(i))
                                               for i in range(start, min(points, start + 250))])
    client.close()


def verify(topology: Topology, collection: str, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "rgw.cli", "verify", "--config", str(topology.config_path),
                           "--collection", collection, "--json", "--wait-s", "20", *extra],
                          capture_output=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return proc.returncode, orjson.loads(proc.stdout)


def regions_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [collection] = report["collections"]
    return {r["region"]: r for r in collection["regions"]}


async def test_drift_behind_the_gateways_back_is_found_and_repaired(shared_topology: Topology) -> None:
    topology, name = shared_topology, "drifted"
    create(topology, name, 500)
    await wait_converged(topology.gateway_url)
    secondary = connect(topology.store_url("secondary"))
    secondary.delete(name, points_selector=models.PointIdsList(points=[3, 141, 499]), wait=True)
    primary = connect(topology.store_url("primary"))
    primary.overwrite_payload(name, payload={"n": -1}, points=[42], wait=True)

    code, report = verify(topology, name)
    assert code == 1
    regions = regions_of(report["before"])
    assert regions["secondary"]["missing"] == {"count": 3, "first": [3, 141, 499]}
    assert regions["secondary"]["extra"]["count"] == regions["secondary"]["differing"]["count"] == 0
    assert regions["primary"]["differing"] == {"count": 1, "first": [42]}
    assert regions["primary"]["missing"]["count"] == regions["primary"]["extra"]["count"] == 0
    [pair] = report["before"]["collections"][0]["pairs"]
    assert pair["only_a"]["first"] == [3, 141, 499] and pair["differing"]["first"] == [42]

    code, report = verify(topology, name, "--repair")
    assert code == 0, report
    assert report["repair"][0]["upserted"] == 4 and report["repair"][0]["deleted"] == 0
    assert not report["after"]["drift"]
    for client in (primary, secondary):  # each store directly: the journal's version is back
        records = client.retrieve(name, ids=[3, 42, 141, 499], with_payload=True, with_vectors=True)
        assert {r.id: r.payload for r in records} == {i: payload(i) for i in (3, 42, 141, 499)}
        for r in records:
            norm = math.sqrt(sum(x * x for x in vector(r.id)))
            assert r.vector == [_approx(x / norm) for x in vector(r.id)]
    primary.close()
    secondary.close()


def _approx(x: float) -> Any:
    import pytest

    return pytest.approx(x, abs=1e-6)


async def test_clean_collection_verifies_clean(shared_topology: Topology) -> None:
    create(shared_topology, "clean", 300, models.Distance.DOT)
    code, report = verify(shared_topology, "clean")
    assert code == 0
    [collection] = report["before"]["collections"]
    assert collection["truth"] == "journal" and collection["truth_points"] == 300
    assert all(r["points"] == 300 and not r["drift"] for r in collection["regions"])
    assert report["repair"] is None and report["after"] is None


async def test_filter_writes_are_reproduced_exactly_by_the_truth(shared_topology: Topology) -> None:
    topology, name = shared_topology, "filtered"
    create(topology, name, 400)
    client = connect(topology.gateway_url)
    client.delete(name, wait=True, points_selector=models.FilterSelector(filter=models.Filter(
        must=[models.FieldCondition(key="group", match=models.MatchValue(value=2))])))
    client.set_payload(name, payload={"flag": True}, wait=True, points=models.Filter(
        must=[models.FieldCondition(key="group", match=models.MatchAny(any=[0, 1]))]))
    client.close()
    code, report = verify(topology, name)
    assert code == 0, report
    [collection] = report["before"]["collections"]
    assert collection["truth_points"] == 320 and not collection["provisional"]


async def test_writes_in_flight_are_left_out_not_reported_as_drift(shared_topology: Topology) -> None:
    topology, name = shared_topology, "busy"
    create_collection(topology.gateway_url, name)
    # Far more than verify's run lets it write: the ingest is still going when verify ends.
    ingest = Ingest(topology.gateway_url, name, total=500_000, batch=100, writers=1, max_seconds=90)
    task = asyncio.create_task(ingest.run())
    await ingest.wait_acked(2000)
    acked_before = len(ingest.acked)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rgw.cli", "verify", "--config", str(topology.config_path), "--collection", name,
        "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await proc.communicate()
    acked_during = len(ingest.acked) - acked_before
    writing_throughout = not task.done()
    task.cancel()  # what it had acknowledged is enough; the rest would only cost time
    await asyncio.gather(task, return_exceptions=True)
    assert writing_throughout and acked_during > 0, (
        f"the ingest did not outlast verify ({acked_during} writes acknowledged while it ran; "
        f"failures: {ingest.failures[:3]}): nothing was in flight, so the test proves nothing")
    assert proc.returncode == 0, stderr.decode()
    [collection] = orjson.loads(stdout)["before"]["collections"]
    # Everything acknowledged before verify started is in its truth; what came while it ran is left out.
    assert collection["truth_points"] >= acked_before
    assert collection["excluded_in_flight"] > 0, collection
    assert all(not r["drift"] for r in collection["regions"]), collection


async def test_trimmed_journal_has_no_truth_for_the_collection(tmp_path) -> None:
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    await journal.append(Pending("old", "create_collection", "PUT", "/collections/old", b"{}"))
    await journal.append(Pending("new", "create_collection", "PUT", "/collections/new", b"{}"))
    await journal.append(Pending("old", "upsert", "PUT", "/collections/old/points", b'{"points": []}'))
    await journal.trim(2)
    assert {name: line.created_at for name, line in (await lineages(journal, journal.head)).items()} == {"new": 2}
    await journal.close()


def test_usage_errors_exit_2(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway]\nlisten = 'nonsense'\n")
    proc = subprocess.run([sys.executable, "-m", "rgw.cli", "verify", "--config", str(bad)], capture_output=True)
    assert proc.returncode == 2 and b"invalid config" in proc.stderr


def test_digest_is_float32_exact_and_key_order_free() -> None:
    # Real Qdrant prints a float32's shortest repr; our store prints the float64 it widened to.
    assert point_digest({"a": 1, "b": [1, 2]}, [0.1, 0.2]) == point_digest({"b": [1, 2], "a": 1},
                                                                            [0.10000000149011612, 0.2])
    assert point_digest({}, [0.1]) != point_digest({}, [0.1001])
    sparse = {"indices": [3, 1], "values": [0.5, 0.25]}
    assert point_digest(None, {"s": sparse}) == point_digest({}, {"s": {"indices": [1, 3], "values": [0.25, 0.5]}})


def test_touched_ids_read_every_write_shape() -> None:
    uuid = "5C56C793-69F3-4FBF-87E6-C4BF54C28C26"
    assert touched_ids("upsert", orjson.dumps({"points": [{"id": 1}, {"id": uuid}]})) == ({1, uuid.lower()}, False)
    assert touched_ids("upsert", orjson.dumps({"batch": {"ids": [7, 8], "vectors": [[1], [2]]}})) == ({7, 8}, False)
    assert touched_ids("delete", orjson.dumps({"filter": {"must": []}})) == (set(), True)
    batch = {"operations": [{"set_payload": {"payload": {}, "points": [2]}}, {"delete": {"points": [3]}}]}
    assert touched_ids("batch", orjson.dumps(batch)) == ({2, 3}, False)
    assert touched_ids("create_index", b"{}") == (set(), False)
