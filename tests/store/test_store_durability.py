"""Acknowledged writes and collection changes survive kill -9; leftovers of a crash do not break startup."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from qdrant_client import models as m

if TYPE_CHECKING:
    from tests.store.conftest import StartStore


def test_acknowledged_writes_survive_kill_9(start_store: StartStore) -> None:
    store = start_store()
    client = store.client()
    client.create_collection("kept", vectors_config=m.VectorParams(size=8, distance=m.Distance.COSINE))
    client.create_collection("named", vectors_config={"a": m.VectorParams(size=2, distance=m.Distance.DOT)})
    client.create_collection("dropped", vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    for start in range(0, 300, 100):
        client.upsert("kept", [m.PointStruct(id=i, vector=[float(i % 7 + 1)] * 8, payload={"i": i})
                               for i in range(start, start + 100)], wait=True)
    client.set_payload("kept", {"marked": True}, points=[5], wait=True)
    client.delete("kept", m.PointIdsList(points=[6]), wait=True)
    client.create_payload_index("kept", "i", m.PayloadSchemaType.INTEGER, wait=True)
    last_op = client.upsert("named", [m.PointStruct(id=1, vector={"a": [1, 2]})], wait=True).operation_id
    client.delete_collection("dropped")

    store.proc.kill()  # SIGKILL: no flush, no clean shutdown
    restarted = start_store(data=store.data)
    client = restarted.client()

    assert sorted(c.name for c in client.get_collections().collections) == ["kept", "named"]
    assert client.count("kept").count == 299
    assert client.retrieve("kept", [5])[0].payload == {"i": 5, "marked": True}
    assert client.retrieve("kept", [6]) == []
    assert "i" in client.get_collection("kept").payload_schema
    assert client.retrieve("named", [1], with_vectors=True)[0].vector == {"a": [1, 2]}
    assert client.upsert("named", [m.PointStruct(id=2, vector={"a": [0, 1]})]).operation_id > last_op


def test_leftovers_of_a_crash_are_cleaned_at_startup(start_store: StartStore) -> None:
    store = start_store()
    client = store.client()
    client.create_collection("c", vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.upsert("c", [m.PointStruct(id=1, vector=[1, 1])])
    store.proc.stop()

    # A collection half created, one half deleted, an index build interrupted mid-copy.
    (store.data / "staging" / "half-created" / "gen-000001").mkdir(parents=True)
    (store.data / "trash" / "half-deleted").mkdir(parents=True)
    shutil.copytree(store.data / "collections" / "c" / "gen-000001", store.data / "collections" / "c" / "gen-000002")

    restarted = start_store(data=store.data)
    client = restarted.client()
    assert [c.name for c in client.get_collections().collections] == ["c"]
    assert client.count("c").count == 1
    assert list((store.data / "staging").iterdir()) == []
    assert list((store.data / "trash").iterdir()) == []
    assert sorted(p.name for p in (store.data / "collections" / "c").glob("gen-*")) == ["gen-000001"]
