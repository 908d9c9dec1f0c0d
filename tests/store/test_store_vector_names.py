"""Named vectors added to and removed from existing collections through the real client
(`create_vector_name`, `delete_vector_name`), durable across kill -9 and across a crash between
the collection's config and its engine changing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.http.exceptions import UnexpectedResponse

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore, StartStore


def dense(size: int, distance: m.Distance) -> m.DenseVectorNameConfig:
    return m.DenseVectorNameConfig(dense=m.DenseVectorConfig(size=size, distance=distance))


def test_add_use_and_remove_named_vectors(client: QdrantClient, store: RunningStore, name: str) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.upsert(name, [m.PointStruct(id=1, vector=[1.0, 0.0])])
    result = client.create_vector_name(name, "img", dense(3, m.Distance.EUCLID))
    assert result.status == m.UpdateStatus.COMPLETED
    client.create_vector_name(name, "kw", m.SparseVectorNameConfig(sparse=m.SparseVectorConfig(
        modifier=m.Modifier.IDF)))
    params = client.get_collection(name).config.params
    assert params.vectors == {"": m.VectorParams(size=2, distance=m.Distance.DOT),
                              "img": m.VectorParams(size=3, distance=m.Distance.EUCLID)}
    assert params.sparse_vectors == {"kw": m.SparseVectorParams(modifier=m.Modifier.IDF)}

    # The unnamed vector keeps taking plain vectors; the new ones take theirs.
    client.upsert(name, [m.PointStruct(id=2, vector=[0.0, 1.0]),
                         m.PointStruct(id=3, vector={"": [1.0, 1.0], "img": [0.0, 0.0, 3.0],
                                                     "kw": m.SparseVector(indices=[4], values=[1.0])})])
    assert [p.id for p in client.query_points(name, query=[0.0, 0.0, 2.9], using="img").points] == [3]
    assert [p.id for p in client.query_points(name, query=m.SparseVector(indices=[4], values=[1.0]),
                                              using="kw").points] == [3]
    assert [p.id for p in client.query_points(name, query=[1.0, 0.0], limit=1).points] in ([1], [3])

    # Creating it again as it is changes nothing; differently is refused.
    client.create_vector_name(name, "img", dense(3, m.Distance.EUCLID))
    with pytest.raises(UnexpectedResponse) as refused:
        client.create_vector_name(name, "img", dense(4, m.Distance.EUCLID))
    assert refused.value.status_code == 400 and "already exists with different parameters" in str(refused.value)

    client.delete_vector_name(name, "img")
    assert set(client.get_collection(name).config.params.vectors) == {""}
    assert client.retrieve(name, [3], with_vectors=True)[0].vector == {
        "": [1.0, 1.0], "kw": m.SparseVector(indices=[4], values=[1.0])}
    status, answer = store.http("PUT", f"/collections/{name}/points",
                                {"points": [{"id": 4, "vector": {"img": [1, 2, 3]}}]})
    assert status == 400 and "Not existing vector name error: img" in answer["status"]["error"]
    client.delete_vector_name(name, "img")  # already gone: nothing to do

    client.delete_vector_name(name, "kw")
    status, answer = store.http("DELETE", f"/collections/{name}/vectors/")
    assert status in (404, 405)
    with pytest.raises(UnexpectedResponse) as last:
        client.delete_vector_name(name, "")
    assert last.value.status_code in (404, 405, 501)


def test_the_last_vector_cannot_go(client: QdrantClient, store: RunningStore, name: str) -> None:
    client.create_collection(name, vectors_config={"only": m.VectorParams(size=2, distance=m.Distance.DOT)})
    status, answer = store.http("DELETE", f"/collections/{name}/vectors/only")
    assert status == 501 and "collections without vectors" in answer["status"]["error"]
    assert set(client.get_collection(name).config.params.vectors) == {"only"}


def test_vector_names_survive_kill_9_and_a_crash_half_way(start_store: StartStore) -> None:
    store = start_store()
    client = store.client()
    client.create_collection("v", vectors_config={"a": m.VectorParams(size=2, distance=m.Distance.DOT)})
    client.create_vector_name("v", "b", dense(3, m.Distance.COSINE))
    client.upsert("v", [m.PointStruct(id=1, vector={"a": [1, 2], "b": [0, 0, 1]})])
    store.proc.kill()

    store = start_store(data=store.data)
    client = store.client()
    assert set(client.get_collection("v").config.params.vectors) == {"a", "b"}
    assert client.retrieve("v", [1], with_vectors=True)[0].vector == {"a": [1, 2], "b": [0, 0, 1]}
    store.proc.kill()

    # A crash after the new config was written but before the engine learned of vector `c`:
    # the config on disk names it, and so does the marker of the change under way.
    root = store.data / "collections" / "v"
    spec = orjson.loads((root / "collection.json").read_bytes())
    spec["vectors"]["c"] = {"size": 2, "distance": "Euclid"}
    (root / "collection.json").write_bytes(orjson.dumps(spec))
    (root / "VECTOR_CHANGE").write_bytes(b"c")

    client = start_store(data=store.data).client()
    client.upsert("v", [m.PointStruct(id=2, vector={"a": [0, 1], "c": [3, 4]})])
    assert [p.id for p in client.query_points("v", query=[3, 4.1], using="c").points] == [2]
    assert not (root / "VECTOR_CHANGE").exists()
