"""The live-shard copy behind index builds and snapshots (rgw/store/shardcopy.py) is exact.

It copies most of a shard while writes go on and trusts the engine's file versions to skip
files; these tests check the result against the live shard byte for byte and point for point,
first on the engine directly (every kind of write, flushes at any time), then on a real store
under heavy upserts and deletes during repeated index builds and snapshots.
"""

from __future__ import annotations

import filecmp
import os
import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import qdrant_edge as qe
from qdrant_client import QdrantClient
from qdrant_client import models as m

from rgw.procs import wait_until
from rgw.qdrant.collection import CollectionSpec
from rgw.store import shardcopy
from rgw.store.engine_config import edge_config

if TYPE_CHECKING:
    from tests.store.conftest import StartStore

Ops = qe.UpdateOperation
SPEC = {"vectors": {"a": {"size": 16, "distance": "Cosine"}, "b": {"size": 4, "distance": "Dot"}},
        "sparse_vectors": {"s": {}}}


class Workload:
    """Random writes of every kind the store issues, on a live shard."""

    def __init__(self, shard: qe.EdgeShard, seed: int) -> None:
        self.shard, self.rng, self.next_id = shard, random.Random(seed), 0
        self.vectors = np.random.default_rng(seed)

    def point(self, i: int) -> qe.Point:
        vectors = {"a": self.vectors.standard_normal(16).tolist(), "b": [1.0, 2.0, 3.0, float(i)],
                   "s": qe.SparseVector([1, 5, i % 100 + 10], [0.5, 0.1, 1.0])}
        return qe.Point(i, vectors, {"k": f"key{i % 13}", "n": i, "t": f"text {i} words", "f": i / 7})

    def add(self, n: int) -> None:
        self.shard.update(Ops.upsert_points([self.point(i) for i in range(self.next_id, self.next_id + n)]))
        self.next_id += n

    def random_write(self) -> None:
        rng = self.rng
        ids = [rng.randrange(0, self.next_id) for _ in range(rng.randint(1, 20))]
        key = qe.Filter(must=[qe.FieldCondition("k", match=qe.MatchValue(f"key{rng.randrange(13)}"))])
        writes = [
            lambda: self.add(rng.randint(1, 50)),
            lambda: self.shard.update(Ops.upsert_points([self.point(i) for i in ids])),
            lambda: self.shard.update(Ops.delete_points(ids)),
            lambda: self.shard.update(Ops.set_payload(ids, {"z": rng.random(), "k": "keyX"})),
            lambda: self.shard.update(Ops.overwrite_payload(ids, {"n": 5, "k": "keyY"})),
            lambda: self.shard.update(Ops.delete_payload(ids, ["t"])),
            lambda: self.shard.update(Ops.clear_payload(ids)),
            lambda: self.shard.update(Ops.update_vectors([qe.PointVectors(i, {"b": [0.0, 1.0, 0.0, rng.random()]})
                                                          for i in ids])),
            lambda: self.shard.update(Ops.delete_vectors(ids, ["b"])),
            lambda: self.shard.update(Ops.delete_points_by_filter(key)),
            lambda: self.shard.update(Ops.set_payload_by_filter(key, {"w": 1})),
            lambda: self.shard.update(Ops.create_field_index("f", qe.PayloadSchemaType.Float)),
            lambda: self.shard.update(Ops.delete_field_index("f")),
        ]
        weights = [30, 15, 6, 7, 5, 5, 3, 7, 4, 1, 5, 2, 2]
        try:
            rng.choices(writes, weights)[0]()
        except Exception as exc:  # writes to points deleted meanwhile fail, as they would live
            assert "No point" in str(exc) or "not found" in str(exc).lower(), exc


def _files(root: Path) -> dict[str, Path]:
    return {os.path.relpath(os.path.join(d, f), root): Path(d, f) for d, _, fs in os.walk(root) for f in fs}


def _points(shard: qe.EdgeShard) -> list[tuple[Any, Any, Any]]:
    records, _ = shard.scroll(qe.ScrollRequest(limit=1_000_000, with_payload=True, with_vector=True))

    def plain(vectors: dict[str, Any]) -> dict[str, Any]:
        return {k: (tuple(v.indices), tuple(v.values)) if isinstance(v, qe.SparseVector) else v
                for k, v in vectors.items()}

    return [(r.id, r.payload, plain(r.vector)) for r in records]


@pytest.mark.timeout(240)
def test_copy_made_during_writes_and_flushes_equals_the_live_shard(tmp_path: Path) -> None:
    live = tmp_path / "live"
    shard = qe.EdgeShard.create(str(live), edge_config(CollectionSpec.parse(SPEC)))
    work = Workload(shard, seed=7)
    for field, schema in [("k", qe.PayloadSchemaType.Keyword), ("n", qe.PayloadSchemaType.Integer),
                          ("t", qe.PayloadSchemaType.Text)]:
        shard.update(Ops.create_field_index(field, schema))
    for _ in range(6):
        work.add(500)
    shard.flush()
    shard.optimize()  # indexed segments: the files the copy may skip
    skipped_somewhere = False
    for round_ in range(6):
        shard.flush()
        before = shard.snapshot_manifest()
        for _ in range(work.rng.randint(0, 80)):  # writes and flushes between the versions and the copy
            work.random_write()
        if round_ % 2:
            shard.flush()
        copy = tmp_path / f"copy{round_}"
        copier = threading.Thread(target=shardcopy.precopy, args=(live, copy))
        copier.start()
        writes = 0
        while copier.is_alive() or writes < 20:
            work.random_write()
            writes += 1
            if writes % 40 == 0:
                shard.flush()
        copier.join()
        shard.flush()
        after = shard.snapshot_manifest()
        live_files = _files(live)
        skipped_somewhere |= any(shardcopy._unchanged(rel, before, after) for rel in live_files)
        shardcopy.finish(live, copy, before, after)

        copied = _files(copy)
        assert set(copied) == set(live_files)
        assert [rel for rel in live_files if not filecmp.cmp(live_files[rel], copied[rel], shallow=False)] == []
        reopened = qe.EdgeShard.load(str(copy))
        assert _points(reopened) == _points(shard)
        reopened.close()
        if round_ == 3:
            shard.optimize()  # new indexed segments, as after a build
    assert skipped_somewhere
    shard.close()


Reference = dict[int, tuple[dict[str, Any], list[float]]]


def _exact(client: QdrantClient, name: str, expected: Reference) -> None:
    found, offset = {}, None
    while True:
        records, offset = client.scroll(name, limit=1000, offset=offset, with_payload=True, with_vectors=True)
        found.update({r.id: (r.payload, r.vector) for r in records})
        if offset is None:
            break
    assert set(found) == set(expected)
    for i, (payload, vector) in expected.items():
        assert found[i][0] == payload, i
        assert np.allclose(found[i][1], np.array(vector) / np.linalg.norm(vector), atol=1e-6), i  # Cosine


class Churn:
    """Upserts of new, existing and deleted ids, deletes and payload updates, with a reference."""

    def __init__(self, client: QdrantClient) -> None:
        self.client, self.reference, self.step = client, {}, 0
        self.rng, self.choose, self.ids = np.random.default_rng(11), random.Random(11), range(8_000)

    def once(self) -> None:
        self.step += 1
        action, reference, choose = self.choose.random(), self.reference, self.choose
        if action < 0.65 or not reference:
            chosen = choose.sample(self.ids, 100)
            vectors = self.rng.standard_normal((100, 32), dtype=np.float32).round(3)
            points = [m.PointStruct(id=i, vector=vectors[k].tolist(), payload={"i": i, "g": i % 5, "step": self.step})
                      for k, i in enumerate(chosen)]
            self.client.upsert("hot", points, wait=True)
            reference.update({p.id: (p.payload, p.vector) for p in points})
        elif action < 0.85:
            doomed = choose.sample(sorted(reference), min(60, len(reference)))
            self.client.delete("hot", m.PointIdsList(points=doomed), wait=True)
            for i in doomed:
                reference.pop(i)
        else:
            marked = choose.sample(sorted(reference), min(20, len(reference)))
            self.client.set_payload("hot", {"mark": self.step}, points=marked, wait=True)
            for i in marked:
                reference[i][0]["mark"] = self.step


@pytest.mark.timeout(300)
def test_points_stay_exact_through_builds_and_snapshots_under_heavy_writes(start_store: StartStore) -> None:
    store = start_store(env={"RGW_STORE_INDEX_THRESHOLD": "500"})
    client = store.client()
    client.create_collection("hot", vectors_config=m.VectorParams(size=32, distance=m.Distance.COSINE))
    client.create_payload_index("hot", "g", m.PayloadSchemaType.INTEGER, wait=True)
    churn = Churn(client)
    snapshots: list[tuple[Any, Reference]] = []

    def builds() -> int:
        return store.proc.log_path.read_text(errors="replace").count("index build swapped in")

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (builds() < 5 or len(snapshots) < 3):
        churn.once()
        if churn.step % 15 == 0 and len(snapshots) < 3:
            at_the_time = {i: (dict(p), list(v)) for i, (p, v) in churn.reference.items()}
            snapshots.append((client.create_snapshot("hot"), at_the_time))
    assert builds() >= 5 and len(snapshots) >= 3, (builds(), len(snapshots))
    wait_until(lambda: client.get_collection("hot").status == m.CollectionStatus.GREEN, 120,
               what="the last index build")
    _exact(client, "hot", churn.reference)
    for n, (snapshot, at_the_time) in enumerate(snapshots):
        assert snapshot is not None
        location = (store.data / "snapshots" / "hot" / snapshot.name).as_uri()
        client.recover_snapshot(f"at{n}", location=location, wait=True)
        _exact(client, f"at{n}", at_the_time)

    # kill -9 right after a swap (before any periodic flush of the new generation): nothing is lost.
    swapped = builds()
    while builds() == swapped and time.monotonic() < deadline + 60:
        churn.once()
    store.proc.kill()
    client.close()
    restarted = start_store(data=store.data)
    _exact(restarted.client(), "hot", churn.reference)
