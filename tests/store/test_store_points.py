"""Point writes and reads (upsert, retrieve, delete, payload, vectors, batch, scroll, count, facet)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore

DIM = 4


def vec(i: int) -> list[float]:
    return [float(i), 1.0, float(i % 3), 0.5]


@pytest.fixture
def filled(client: QdrantClient, name: str) -> str:
    """A collection of 20 points with payload `{"n": i, "kind": even|odd, "tags": [...]}`."""
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.EUCLID))
    client.upsert(name, [
        m.PointStruct(id=i, vector=vec(i), payload={"n": i, "kind": "even" if i % 2 == 0 else "odd",
                                                    "tags": [f"t{i % 3}"]})
        for i in range(20)
    ], wait=True)
    return name


def ids_of(records: list) -> list:
    return [r.id for r in records]


def test_upsert_list_form_with_int_and_uuid_ids(client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    point_uuid = str(uuid.uuid4())
    result = client.upsert(name, [m.PointStruct(id=7, vector=vec(7), payload={"a": 1}),
                                  m.PointStruct(id=point_uuid, vector=vec(8), payload=None)])
    assert result.status == m.UpdateStatus.COMPLETED
    records = client.retrieve(name, [7, point_uuid], with_vectors=True)
    assert sorted(map(str, ids_of(records))) == sorted(["7", point_uuid])
    by_id = {str(r.id): r for r in records}
    assert by_id["7"].payload == {"a": 1}
    assert by_id[point_uuid].vector == pytest.approx([v / sum(x * x for x in vec(8)) ** 0.5 for v in vec(8)])


def test_upsert_batch_form(client: QdrantClient, store: RunningStore, name: str) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.DOT))
    client.upsert(name, m.Batch(ids=[1, 2], vectors=[vec(1), vec(2)], payloads=[{"x": 1}, {}]))
    # The spec allows null payloads in a batch (the client's model does not): send it raw.
    body = {"batch": {"ids": [3], "vectors": [vec(3)], "payloads": [{"x": 3}]}}
    assert store.http("PUT", f"/collections/{name}/points?wait=true", body)[0] == 200
    body = {"batch": {"ids": [4], "vectors": [vec(4)], "payloads": [None]}}
    assert store.http("PUT", f"/collections/{name}/points?wait=false", body)[0] == 200
    records = client.retrieve(name, [1, 2, 3], with_vectors=True)
    assert [(r.id, r.payload, r.vector) for r in records] == [
        (1, {"x": 1}, vec(1)), (2, {}, vec(2)), (3, {"x": 3}, vec(3))]
    assert client.retrieve(name, [4])[0].payload == {}


def test_upsert_batch_form_with_named_and_sparse_vectors(client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config={"d": m.VectorParams(size=2, distance=m.Distance.DOT)},
                             sparse_vectors_config={"s": m.SparseVectorParams()})
    client.upsert(name, m.Batch(ids=[1, 2], vectors={
        "d": [[1, 0], [0, 1]],
        "s": [m.SparseVector(indices=[3], values=[1.0]), m.SparseVector(indices=[5, 9], values=[0.5, 2.0])],
    }))
    [second] = client.retrieve(name, [2], with_vectors=True)
    assert second.vector == {"d": [0, 1], "s": m.SparseVector(indices=[5, 9], values=[0.5, 2.0])}


def test_operation_ids_increase(client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.DOT))
    ops = [client.upsert(name, [m.PointStruct(id=i, vector=vec(i))], wait=i % 2 == 0).operation_id
           for i in range(5)]
    assert ops == sorted(ops) and len(set(ops)) == 5


def test_get_point_and_missing_point(store: RunningStore, filled: str) -> None:
    status, body = store.http("GET", f"/collections/{filled}/points/3")
    assert status == 200
    assert body["result"] == {"id": 3, "payload": {"n": 3, "kind": "odd", "tags": ["t0"]}, "vector": vec(3)}
    status, body = store.http("GET", f"/collections/{filled}/points/999")
    assert status == 404
    assert body["status"]["error"] == "Not found: Point with id 999 does not exists!"


def test_retrieve_selects_payload_keys(client: QdrantClient, filled: str) -> None:
    [record] = client.retrieve(filled, [4], with_payload=["n"])
    assert record.payload == {"n": 4} and record.vector is None
    [record] = client.retrieve(filled, [4], with_payload=m.PayloadSelectorExclude(exclude=["tags"]))
    assert record.payload == {"n": 4, "kind": "even"}
    assert client.retrieve(filled, [12345]) == []


def test_delete_by_ids_and_by_filter(client: QdrantClient, filled: str) -> None:
    client.delete(filled, m.PointIdsList(points=[0, 1]))
    assert client.count(filled).count == 18
    client.delete(filled, m.FilterSelector(filter=m.Filter(
        must=[m.FieldCondition(key="kind", match=m.MatchValue(value="odd"))])))
    remaining = ids_of(client.scroll(filled, limit=100)[0])
    assert remaining == list(range(2, 20, 2))


def test_payload_set_overwrite_delete_clear(client: QdrantClient, filled: str) -> None:
    client.set_payload(filled, {"extra": True}, points=[2])
    client.set_payload(filled, {"deep": 1}, points=[2], key="nested")
    assert client.retrieve(filled, [2])[0].payload == {"n": 2, "kind": "even", "tags": ["t2"], "extra": True,
                                                       "nested": {"deep": 1}}
    client.overwrite_payload(filled, {"only": "this"}, points=[2])
    assert client.retrieve(filled, [2])[0].payload == {"only": "this"}
    client.set_payload(filled, {"flag": 1}, points=m.Filter(must=[m.HasIdCondition(has_id=[3, 4])]))
    client.delete_payload(filled, ["n", "tags"], points=[3])
    assert client.retrieve(filled, [3])[0].payload == {"kind": "odd", "flag": 1}
    client.clear_payload(filled, m.PointIdsList(points=[4]))
    assert client.retrieve(filled, [4])[0].payload == {}


def test_update_and_delete_vectors(client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config={"a": m.VectorParams(size=2, distance=m.Distance.DOT),
                                                   "b": m.VectorParams(size=2, distance=m.Distance.DOT)})
    client.upsert(name, [m.PointStruct(id=1, vector={"a": [1, 0], "b": [0, 1]})])
    client.update_vectors(name, [m.PointVectors(id=1, vector={"a": [2, 2]})])
    assert client.retrieve(name, [1], with_vectors=True)[0].vector == {"a": [2, 2], "b": [0, 1]}
    client.delete_vectors(name, ["b"], m.PointIdsList(points=[1]))
    assert client.retrieve(name, [1], with_vectors=True)[0].vector == {"a": [2, 2]}


def test_batch_update_applies_operations_in_order(client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.DOT))
    results = client.batch_update_points(name, [
        m.UpsertOperation(upsert=m.PointsList(points=[m.PointStruct(id=i, vector=vec(i)) for i in range(3)])),
        m.SetPayloadOperation(set_payload=m.SetPayload(payload={"p": 1}, points=[0, 1])),
        m.DeleteOperation(delete=m.PointIdsList(points=[2])),
    ])
    assert [r.status for r in results] == [m.UpdateStatus.COMPLETED] * 3
    assert [(r.id, r.payload) for r in client.scroll(name)[0]] == [(0, {"p": 1}), (1, {"p": 1})]


def test_batch_update_every_operation_one_result_each(client: QdrantClient, store: RunningStore,
                                                     name: str) -> None:
    client.create_collection(name, vectors_config={"a": m.VectorParams(size=2, distance=m.Distance.DOT),
                                                   "b": m.VectorParams(size=2, distance=m.Distance.DOT)})
    odd = m.Filter(must=[m.FieldCondition(key="odd", match=m.MatchValue(value=True))])
    operations = [
        m.UpsertOperation(upsert=m.PointsList(points=[
            m.PointStruct(id=i, vector={"a": [1.0, float(i)], "b": [float(i), 1.0]},
                          payload={"odd": i % 2 == 1, "keep": i, "drop": "x"}) for i in range(6)])),
        m.UpsertOperation(upsert=m.PointsBatch(batch=m.Batch(ids=[6], vectors={"a": [[1.0, 6.0]]},
                                                             payloads=[{"odd": False}]))),
        m.DeleteOperation(delete=m.PointIdsList(points=[5])),
        m.SetPayloadOperation(set_payload=m.SetPayload(payload={"tag": "odd"}, filter=odd)),
        m.OverwritePayloadOperation(overwrite_payload=m.SetPayload(payload={"only": 1}, points=[0])),
        m.DeletePayloadOperation(delete_payload=m.DeletePayload(keys=["drop"], points=[1, 2])),
        m.ClearPayloadOperation(clear_payload=m.PointIdsList(points=[3])),
        m.UpdateVectorsOperation(update_vectors=m.UpdateVectors(points=[m.PointVectors(id=4, vector={"a": [9, 9]})])),
        m.DeleteVectorsOperation(delete_vectors=m.DeleteVectors(vector=["b"], filter=odd)),
    ]
    results = client.batch_update_points(name, operations)
    assert len(results) == len(operations) and all(r.status == m.UpdateStatus.COMPLETED for r in results)
    assert [r.operation_id for r in results] == sorted(r.operation_id for r in results)
    records = {r.id: r for r in client.scroll(name, with_vectors=True, limit=10)[0]}
    assert sorted(records) == [0, 1, 2, 3, 4, 6]
    assert records[0].payload == {"only": 1}
    assert records[1].payload == {"odd": True, "keep": 1, "tag": "odd"}
    assert records[2].payload == {"odd": False, "keep": 2}
    assert records[3].payload == {}
    assert records[4].vector == {"a": [9, 9], "b": [4, 1]}
    # Point 3's payload was cleared before the filter ran: it kept `b`.
    assert set(records[1].vector) == {"a"} and set(records[3].vector) == {"a", "b"}
    assert records[6].vector == {"a": [1, 6]}
    # One result per operation in Qdrant's UpdateResult shape, also when sent raw.
    status, answer = store.http("POST", f"/collections/{name}/points/batch",
                                {"operations": [{"delete": {"points": [6]}}, {"clear_payload": {"points": [0]}}]})
    assert status == 200 and [set(r) for r in answer["result"]] == [{"operation_id", "status"}] * 2


def test_upsert_without_a_name_into_the_default_vector(client: QdrantClient, store: RunningStore, name: str) -> None:
    # The default vector declared by name (""), and declared unnamed: plain vectors go to it either way.
    for vectors in ({"": {"size": 2, "distance": "Dot"}}, {"size": 2, "distance": "Dot"}):
        client.delete_collection(name)
        assert store.http("PUT", f"/collections/{name}", {"vectors": vectors})[0] == 200
        client.upsert(name, [m.PointStruct(id=1, vector=[1.0, 2.0])])
        client.upsert(name, m.Batch(ids=[2], vectors=[[2.0, 1.0]]))
        client.upsert(name, [m.PointStruct(id=3, vector={"": [0.0, 1.0]})])
        assert [p.id for p in client.query_points(name, query=[1.0, 0.0]).points] == [2, 1, 3]
        assert client.retrieve(name, [1], with_vectors=True)[0].vector in ([1.0, 2.0], {"": [1.0, 2.0]})


def test_scroll_with_filter_and_offset_paging(client: QdrantClient, filled: str) -> None:
    even = m.Filter(must=[m.FieldCondition(key="kind", match=m.MatchValue(value="even"))])
    seen, offset = [], None
    while True:
        page, offset = client.scroll(filled, scroll_filter=even, limit=3, offset=offset)
        seen += ids_of(page)
        if offset is None:
            break
    assert seen == list(range(0, 20, 2))


def test_scroll_order_by(client: QdrantClient, filled: str) -> None:
    client.create_payload_index(filled, "n", m.PayloadSchemaType.INTEGER)
    page, next_offset = client.scroll(filled, limit=4, order_by=m.OrderBy(key="n", direction=m.Direction.DESC))
    assert ids_of(page) == [19, 18, 17, 16] and next_offset is None
    page, _ = client.scroll(filled, limit=3, order_by=m.OrderBy(key="n", start_from=10))
    assert ids_of(page) == [10, 11, 12]


def test_count_exact_with_filter(client: QdrantClient, filled: str) -> None:
    assert client.count(filled).count == 20
    big = m.Filter(must=[m.FieldCondition(key="n", range=m.Range(gte=15))])
    assert client.count(filled, count_filter=big, exact=True).count == 5


def test_facet(client: QdrantClient, filled: str) -> None:
    client.create_payload_index(filled, "kind", m.PayloadSchemaType.KEYWORD)
    hits = client.facet(filled, "kind", exact=True).hits
    assert sorted((h.value, h.count) for h in hits) == [("even", 10), ("odd", 10)]
