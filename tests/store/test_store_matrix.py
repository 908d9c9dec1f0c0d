"""The distance matrix through the real client: a random sample of the points that match the
filter and have the vector, and each sampled point's nearest neighbours among the sample."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

from tests.store.brute import cosine

N, DIM = 40, 4
RNG = np.random.default_rng(9)
DENSE = RNG.normal(size=(N, DIM))
UUIDS = {i: str(uuid.UUID(int=int(RNG.integers(1, 2**62)) * 2**64)) for i in range(30, 35)}


def point_id(i: int) -> int | str:
    return UUIDS.get(i, i)


@pytest.fixture
def matrix(client: QdrantClient, name: str) -> str:
    client.create_collection(name, vectors_config={"a": m.VectorParams(size=DIM, distance=m.Distance.COSINE),
                                                   "b": m.VectorParams(size=2, distance=m.Distance.DOT)})
    points = [m.PointStruct(id=point_id(i), vector={"a": DENSE[i].tolist()} if i < 35 else {"b": [1.0, 0.0]},
                            payload={"n": i}) for i in range(N)]
    client.upsert(name, points)
    return name


def neighbours(ids: list[int | str], limit: int) -> dict[int | str, list[tuple[int | str, float]]]:
    """Each sampled point's `limit` most similar other sampled points (cosine)."""
    index = {point_id(i): i for i in range(N)}
    vectors = DENSE[[index[i] for i in ids]]
    out = {}
    for row, a in enumerate(ids):
        sims = cosine(vectors, vectors[row])
        ranked = sorted(((ids[j], float(sims[j])) for j in range(len(ids)) if j != row), key=lambda x: -x[1])
        out[a] = ranked[:limit]
    return out


def id_order(point: int | str) -> tuple[int, int]:
    return (0, point) if isinstance(point, int) else (1, uuid.UUID(point).int)


def test_pairs_are_each_samples_nearest_neighbours(client: QdrantClient, matrix: str) -> None:
    below = m.Filter(must=[m.FieldCondition(key="n", range=m.Range(lt=33))])
    result = client.search_matrix_pairs(matrix, query_filter=below, sample=12, limit=3, using="a")
    samples = list(dict.fromkeys(pair.a for pair in result.pairs))
    assert len(samples) == 12 and len(result.pairs) == 36
    assert samples == sorted(samples, key=id_order)  # ids in Qdrant's order, numbers before UUIDs
    index = {point_id(i): i for i in range(N)}
    assert all(index[s] < 33 for s in samples)
    expected = neighbours(samples, 3)
    for a in samples:
        got = [(p.b, p.score) for p in result.pairs if p.a == a]
        assert [b for b, _ in got] == [b for b, _ in expected[a]]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected[a]], abs=1e-5)


def test_offsets_cover_every_point_with_the_vector(client: QdrantClient, matrix: str) -> None:
    result = client.search_matrix_offsets(matrix, sample=100, limit=2, using="a")
    # Only the 35 points that have vector `a` can be sampled.
    assert sorted(result.ids, key=id_order) == result.ids
    assert {str(i) for i in result.ids} == {str(point_id(i)) for i in range(35)}
    assert len(result.offsets_row) == len(result.offsets_col) == len(result.scores) == 70
    expected = neighbours(result.ids, 2)
    for row, a in enumerate(result.ids):
        cells = [(result.ids[c], s) for r, c, s in zip(result.offsets_row, result.offsets_col, result.scores,
                                                        strict=True) if r == row]
        assert [b for b, _ in cells] == [b for b, _ in expected[a]]
        assert [s for _, s in cells] == pytest.approx([s for _, s in expected[a]], abs=1e-5)


def test_fewer_than_two_points_give_an_empty_matrix(client: QdrantClient, matrix: str) -> None:
    one = m.Filter(must=[m.FieldCondition(key="n", match=m.MatchValue(value=3))])
    assert client.search_matrix_pairs(matrix, query_filter=one, using="a").pairs == []
    empty = client.search_matrix_offsets(matrix, query_filter=one, using="a")
    assert (empty.ids, empty.offsets_row, empty.offsets_col, empty.scores) == ([], [], [], [])
