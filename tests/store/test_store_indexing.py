"""Index builds run beside the store: queries and writes keep being answered during a build, and
the swapped-in generation holds every point, including those written while it was being built."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as m

from rgw.procs import wait_until

if TYPE_CHECKING:
    from tests.store.conftest import StartStore

THRESHOLD, DIM, BATCH = 12_000, 128, 1_000


def status_of(client: QdrantClient, name: str) -> m.CollectionStatus:
    return client.get_collection(name).status


def test_queries_and_writes_are_served_while_an_index_builds(start_store: StartStore) -> None:
    store = start_store(env={"RGW_STORE_INDEX_THRESHOLD": str(THRESHOLD)})
    client = store.client()
    client.create_collection("big", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    vectors = np.random.default_rng(3).random((THRESHOLD + 1_000, DIM), dtype=np.float32)
    for start in range(0, THRESHOLD, BATCH):  # the last batch crosses the threshold and starts a build
        client.upsert("big", m.Batch(ids=list(range(start, start + BATCH)),
                                     vectors=vectors[start:start + BATCH].tolist()))
    wait_until(lambda: status_of(client, "big") == m.CollectionStatus.YELLOW, timeout=10, what="build to start")

    written = []
    next_id = THRESHOLD
    while status_of(client, "big") == m.CollectionStatus.YELLOW:
        assert client.query_points("big", query=vectors[next_id].tolist(), limit=5).points
        client.upsert("big", [m.PointStruct(id=next_id, vector=vectors[next_id].tolist())])
        written.append(next_id)
        next_id += 1
        assert next_id < len(vectors), "index build did not finish"

    # Several query-and-write rounds completed while the build ran: a store that made requests wait for
    # the build would see it over after the first. How long they take during builds: `make bench-write`.
    assert len(written) >= 5, "the build finished before it could be observed"

    info = client.get_collection("big")
    assert info.status == m.CollectionStatus.GREEN
    assert info.points_count == THRESHOLD + len(written)
    assert info.indexed_vectors_count >= THRESHOLD
    assert [r.id for r in client.retrieve("big", written)] == written
    assert client.query_points("big", query=vectors[written[-1]].tolist(), limit=1).points[0].id == written[-1]
    collection_dir = store.data / "collections" / "big"
    assert (collection_dir / "CURRENT").read_text() == "gen-000002"
    wait_until(lambda: sorted(p.name for p in collection_dir.glob("gen-*")) == ["gen-000002"], timeout=10,
               what="the old generation to be removed")

    # The swapped-in generation is the durable one.
    store.proc.kill()
    client = start_store(data=store.data).client()
    assert client.count("big").count == THRESHOLD + len(written)
    assert client.get_collection("big").indexed_vectors_count >= THRESHOLD


def test_deleting_a_collection_mid_build_leaves_the_store_healthy(start_store: StartStore) -> None:
    store = start_store(env={"RGW_STORE_INDEX_THRESHOLD": str(THRESHOLD)})
    client = store.client()
    client.create_collection("doomed", vectors_config=m.VectorParams(size=DIM, distance=m.Distance.DOT))
    vectors = np.random.default_rng(4).random((THRESHOLD, DIM), dtype=np.float32)
    for start in range(0, THRESHOLD, BATCH):
        client.upsert("doomed", m.Batch(ids=list(range(start, start + BATCH)),
                                        vectors=vectors[start:start + BATCH].tolist()))
    wait_until(lambda: status_of(client, "doomed") == m.CollectionStatus.YELLOW, timeout=10, what="build to start")

    assert client.delete_collection("doomed")
    assert not client.collection_exists("doomed")
    client.create_collection("doomed", vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.upsert("doomed", [m.PointStruct(id=1, vector=[1, 0])])
    assert client.count("doomed").count == 1
    assert store.http("GET", "/readyz") == (200, "all shards are ready")
    assert "Traceback" not in store.proc.log_path.read_text()
    wait_until(lambda: not list((store.data / "trash").iterdir()), timeout=10, what="trash to be emptied")
