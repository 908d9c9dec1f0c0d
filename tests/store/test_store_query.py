"""Vector queries: correctness against brute force, parameters, batch and legacy search, filters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore

N, DIM = 300, 16
RNG = np.random.default_rng(7)
VECTORS = RNG.normal(size=(N, DIM)).astype(np.float32)
QUERIES = RNG.normal(size=(10, DIM)).astype(np.float32)


def brute_force(distance: m.Distance, query: np.ndarray, k: int) -> list[int]:
    """Ids of the k best points by Qdrant's definition of each distance."""
    if distance == m.Distance.COSINE:
        unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
        order = np.argsort(-(unit @ (query / np.linalg.norm(query))))
    elif distance == m.Distance.DOT:
        order = np.argsort(-(VECTORS @ query))
    elif distance == m.Distance.EUCLID:
        order = np.argsort(np.linalg.norm(VECTORS - query, axis=1))
    else:
        order = np.argsort(np.abs(VECTORS - query).sum(axis=1))
    return [int(i) for i in order[:k]]


def load(client: QdrantClient, name: str, distance: m.Distance) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=distance))
    client.upsert(name, [m.PointStruct(id=i, vector=VECTORS[i].tolist(),
                                       payload={"n": i, "group": f"g{i % 5}"}) for i in range(N)])


def ids(points: list) -> list:
    return [p.id for p in points]


@pytest.mark.parametrize("distance", list(m.Distance))
def test_nearest_neighbours_match_brute_force(client: QdrantClient, name: str, distance: m.Distance) -> None:
    load(client, name, distance)
    for query in QUERIES:
        found = client.query_points(name, query=query.tolist(), limit=5, search_params=m.SearchParams(exact=True))
        assert ids(found.points) == brute_force(distance, query, 5)


@pytest.fixture
def cosine(client: QdrantClient, name: str) -> str:
    load(client, name, m.Distance.COSINE)
    return name


def test_query_defaults_and_selectors(client: QdrantClient, store: RunningStore, cosine: str) -> None:
    query = QUERIES[0].tolist()
    # The client fills in its own defaults, so check the server's raw.
    status, body = store.http("POST", f"/collections/{cosine}/points/query", {"query": query})
    assert status == 200 and len(body["result"]["points"]) == 10  # Qdrant's default limit
    assert body["result"]["points"][0]["payload"] is None and body["result"]["points"][0]["vector"] is None
    rich = client.query_points(cosine, query=query, limit=2, with_payload=True, with_vectors=True)
    assert rich.points[0].payload == {"n": rich.points[0].id, "group": f"g{rich.points[0].id % 5}"}
    assert len(rich.points[0].vector) == DIM
    assert rich.points[0].score >= rich.points[1].score


def test_query_filter_offset_and_score_threshold(client: QdrantClient, cosine: str) -> None:
    query = QUERIES[1].tolist()
    in_group = m.Filter(must=[m.FieldCondition(key="group", match=m.MatchValue(value="g2"))])
    found = client.query_points(cosine, query=query, query_filter=in_group, limit=20, with_payload=True)
    assert found.points and all(p.payload["group"] == "g2" for p in found.points)
    full = ids(client.query_points(cosine, query=query, limit=8).points)
    assert ids(client.query_points(cosine, query=query, limit=4, offset=4).points) == full[4:]
    scores = [p.score for p in client.query_points(cosine, query=query, limit=100).points]
    threshold = (scores[3] + scores[4]) / 2
    above = client.query_points(cosine, query=query, limit=100, score_threshold=threshold).points
    assert len(above) == 4 and all(p.score >= threshold for p in above)


def test_query_by_point_id_excludes_that_point(client: QdrantClient, cosine: str) -> None:
    found = ids(client.query_points(cosine, query=5, limit=3).points)
    assert 5 not in found
    expected = [i for i in brute_force(m.Distance.COSINE, VECTORS[5], 4) if i != 5][:3]
    assert found == expected


def test_query_nearest_object_form_and_named_vectors(client: QdrantClient, store: RunningStore,
                                                     name: str) -> None:
    client.create_collection(name, vectors_config={"a": m.VectorParams(size=2, distance=m.Distance.DOT),
                                                   "b": m.VectorParams(size=3, distance=m.Distance.DOT)})
    client.upsert(name, [m.PointStruct(id=1, vector={"a": [1, 0], "b": [0, 0, 1]}),
                         m.PointStruct(id=2, vector={"a": [0, 1], "b": [1, 0, 0]})])
    assert ids(client.query_points(name, query=[1, 0, 0], using="b").points)[0] == 2
    status, body = store.http("POST", f"/collections/{name}/points/query",
                              {"query": {"nearest": [1, 0]}, "using": "a", "limit": 1})
    assert status == 200 and [p["id"] for p in body["result"]["points"]] == [1]
    assert set(body["result"]["points"][0]) == {"id", "version", "score", "payload", "vector"}


def test_sparse_query(client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config={}, sparse_vectors_config={"s": m.SparseVectorParams()})
    client.upsert(name, [m.PointStruct(id=i, vector={"s": m.SparseVector(indices=[i, 100], values=[1.0, 0.1])})
                         for i in range(5)])
    found = client.query_points(name, query=m.SparseVector(indices=[3], values=[2.0]), using="s", limit=2)
    assert found.points[0].id == 3


def test_query_order_by_and_sample(client: QdrantClient, cosine: str) -> None:
    client.create_payload_index(cosine, "n", m.PayloadSchemaType.INTEGER)
    top = client.query_points(cosine, query=m.OrderByQuery(order_by=m.OrderBy(key="n", direction="desc")), limit=3)
    assert ids(top.points) == [N - 1, N - 2, N - 3]
    sample = client.query_points(cosine, query=m.SampleQuery(sample=m.Sample.RANDOM), limit=7)
    assert len(set(ids(sample.points))) == 7


def test_query_batch(client: QdrantClient, cosine: str) -> None:
    requests = [m.QueryRequest(query=q.tolist(), limit=3) for q in QUERIES[:4]]
    requests.append(m.QueryRequest(query=QUERIES[0].tolist(), limit=2, filter=m.Filter(
        must=[m.FieldCondition(key="n", range=m.Range(lt=50))]), with_payload=True))
    results = client.query_batch_points(cosine, requests)
    assert len(results) == 5
    for query, result in zip(QUERIES[:4], results[:4], strict=True):
        assert ids(result.points) == ids(client.query_points(cosine, query=query.tolist(), limit=3).points)
    assert all(p.payload["n"] < 50 for p in results[4].points)


def test_legacy_search_and_search_batch(store: RunningStore, client: QdrantClient, cosine: str) -> None:
    query = QUERIES[2].tolist()
    expected = ids(client.query_points(cosine, query=query, limit=4).points)
    status, body = store.http("POST", f"/collections/{cosine}/points/search", {"vector": query, "limit": 4})
    assert status == 200 and [p["id"] for p in body["result"]] == expected
    batch = {"searches": [{"vector": query, "limit": 4}, {"vector": QUERIES[3].tolist(), "limit": 1,
                                                          "with_payload": True}]}
    status, body = store.http("POST", f"/collections/{cosine}/points/search/batch", batch)
    assert status == 200 and [p["id"] for p in body["result"][0]] == expected
    assert body["result"][1][0]["payload"]["n"] == body["result"][1][0]["id"]


def test_legacy_search_with_named_vector(store: RunningStore, client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config={"img": m.VectorParams(size=2, distance=m.Distance.EUCLID)})
    client.upsert(name, [m.PointStruct(id=i, vector={"img": [float(i), 0.0]}) for i in range(4)])
    status, body = store.http("POST", f"/collections/{name}/points/search",
                              {"vector": {"name": "img", "vector": [2.9, 0]}, "limit": 2})
    assert status == 200 and [p["id"] for p in body["result"]] == [3, 2]


# -- filters ---------------------------------------------------------------------------------

DOCS = [
    {"city": "Berlin", "n": 1, "tags": ["a", "b"], "text": "the quick brown fox", "when": "2024-01-01T00:00:00Z",
     "loc": {"lon": 13.4, "lat": 52.5}, "items": [{"sku": "x", "qty": 1}]},
    {"city": "Paris", "n": 5, "tags": ["b"], "text": "lazy dog sleeps", "when": "2024-06-01T00:00:00Z",
     "loc": {"lon": 2.35, "lat": 48.86}, "items": [{"sku": "y", "qty": 3}], "maybe": None},
    {"city": "London", "n": 10, "tags": [], "text": "quick thinking", "when": "2025-01-01T00:00:00Z",
     "loc": {"lon": -0.13, "lat": 51.5}, "items": [{"sku": "x", "qty": 7}, {"sku": "z", "qty": 1}]},
    {"city": "Berlin", "n": 20, "text": "brown bear", "maybe": 3},
]


@pytest.fixture
def docs(client: QdrantClient, name: str) -> str:
    client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.upsert(name, [m.PointStruct(id=i, vector=[1.0, float(i)], payload=doc) for i, doc in enumerate(DOCS)])
    client.create_payload_index(name, "text", m.TextIndexParams(type=m.TextIndexType.TEXT,
                                                                tokenizer=m.TokenizerType.WORD,
                                                                phrase_matching=True))
    return name


def F(**clauses: object) -> m.Filter:
    return m.Filter(**clauses)


def fc(key: str, **condition: object) -> m.FieldCondition:
    return m.FieldCondition(key=key, **condition)


FILTER_CASES = [
    (F(must=[fc("city", match=m.MatchValue(value="Berlin"))]), [0, 3]),
    (F(must_not=[fc("city", match=m.MatchValue(value="Berlin"))]), [1, 2]),
    (F(should=[fc("n", match=m.MatchValue(value=5)), fc("n", match=m.MatchValue(value=10))]), [1, 2]),
    (F(must=[fc("city", match=m.MatchAny(any=["Paris", "London"]))]), [1, 2]),
    (F(must=[fc("city", match=m.MatchExcept(**{"except": ["Berlin"]}))]), [1, 2]),
    (F(must=[fc("text", match=m.MatchText(text="quick"))]), [0, 2]),
    (F(must=[fc("text", match=m.MatchPhrase(phrase="brown fox"))]), [0]),
    (F(must=[fc("n", range=m.Range(gt=1, lte=10))]), [1, 2]),
    (F(must=[fc("when", range=m.DatetimeRange(gte="2024-03-01T00:00:00Z"))]), [1, 2]),
    (F(must=[fc("loc", geo_radius=m.GeoRadius(center=m.GeoPoint(lon=13.0, lat=52.0), radius=100_000))]), [0]),
    (F(must=[fc("loc", geo_bounding_box=m.GeoBoundingBox(top_left=m.GeoPoint(lon=-1, lat=53),
                                                          bottom_right=m.GeoPoint(lon=3, lat=48)))]), [1, 2]),
    (F(must=[fc("tags", values_count=m.ValuesCount(gte=1))]), [0, 1]),
    (F(must=[m.IsEmptyCondition(is_empty=m.PayloadField(key="tags"))]), [2, 3]),
    (F(must=[m.IsNullCondition(is_null=m.PayloadField(key="maybe"))]), [1]),
    (F(must=[m.HasIdCondition(has_id=[1, 3])]), [1, 3]),
    (F(must=[m.HasVectorCondition(has_vector="")]), [0, 1, 2, 3]),
    (F(must=[m.NestedCondition(nested=m.Nested(key="items", filter=F(must=[
        fc("sku", match=m.MatchValue(value="x")), fc("qty", range=m.Range(gt=5))])))]), [2]),
    (F(min_should=m.MinShould(conditions=[fc("city", match=m.MatchValue(value="Berlin")),
                                          fc("n", range=m.Range(gte=10)),
                                          fc("text", match=m.MatchText(text="brown"))], min_count=2)), [0, 3]),
    (F(must=[F(should=[fc("n", match=m.MatchValue(value=1)), fc("n", match=m.MatchValue(value=20))])]), [0, 3]),
]


@pytest.mark.parametrize(("query_filter", "expected"), FILTER_CASES)
def test_filters_select_the_right_points(client: QdrantClient, docs: str, query_filter: m.Filter,
                                         expected: list[int]) -> None:
    assert sorted(ids(client.scroll(docs, scroll_filter=query_filter, limit=10)[0])) == expected
    assert client.count(docs, count_filter=query_filter).count == len(expected)
    found = client.query_points(docs, query=[1.0, 0.0], query_filter=query_filter, limit=10).points
    assert sorted(ids(found)) == expected
