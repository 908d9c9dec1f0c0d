"""Grouped queries through the real client (`query_points_groups`) and the legacy
`search/groups` and `recommend/groups` bodies: groups in the order of their best hit, hits in
score order, `with_lookup` from another collection; checked against brute force."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

from tests.store.brute import cosine

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore

N, DIM = 100, 5
RNG = np.random.default_rng(3)
DENSE = RNG.normal(size=(N, DIM))
EXACT = m.SearchParams(exact=True)


def payload(i: int) -> dict[str, Any]:
    if i % 17 == 0:
        return {"other": i}  # no group key at all: never grouped
    out: dict[str, Any] = {"doc": i % 7, "n": i, "tags": ["x", f"t{i % 3}"] if i % 2 else f"t{i % 3}"}
    if i % 11 == 0:
        out["doc"] = True  # not a valid group id (neither a string nor an integer)
    return out


@pytest.fixture(scope="module")
def grouped(client: QdrantClient) -> Iterator[str]:
    name = f"groups_{uuid.uuid4().hex[:8]}"
    client.create_collection(name, vectors_config=m.VectorParams(size=DIM, distance=m.Distance.COSINE))
    client.upsert(name, [m.PointStruct(id=i, vector=DENSE[i].tolist(), payload=payload(i)) for i in range(N)])
    yield name


def expected_groups(scores: dict[int, float], key: str, limit: int, size: int) -> list[tuple[Any, list[int]]]:
    """Points in score order, each in a group per string/integer value of `key`."""
    groups: dict[Any, list[int]] = {}
    for point in sorted(scores, key=lambda i: -scores[i]):
        value = payload(point).get(key)
        values = value if isinstance(value, list) else [value]
        for group in values:
            if isinstance(group, str | int) and not isinstance(group, bool):
                hits = groups.setdefault(group, [])
                if len(hits) < size:
                    hits.append(point)
    return list(groups.items())[:limit]


def as_pairs(result: m.GroupsResult) -> list[tuple[Any, list[Any]]]:
    return [(group.id, [hit.id for hit in group.hits]) for group in result.groups]


def scores_for(query: np.ndarray, excluded: set[int] = frozenset()) -> dict[int, float]:
    sims = cosine(DENSE, query)
    return {i: float(sims[i]) for i in range(N) if i not in excluded}


@pytest.mark.parametrize(("key", "limit", "size"), [("doc", 4, 3), ("doc", 7, 20), ("tags", 3, 2), ("n", 5, 1)])
def test_groups_match_brute_force(client: QdrantClient, grouped: str, key: str, limit: int, size: int) -> None:
    query = RNG.normal(size=DIM)
    result = client.query_points_groups(grouped, group_by=key, query=query.tolist(), limit=limit, group_size=size,
                                        search_params=EXACT, with_payload=True)
    assert as_pairs(result) == expected_groups(scores_for(query), key, limit, size)
    for group in result.groups:
        assert all(hit.payload is not None for hit in group.hits)
        assert [h.score for h in group.hits] == sorted((h.score for h in group.hits), reverse=True)


def test_groups_with_filter_payload_selection_and_vectors(client: QdrantClient, grouped: str) -> None:
    query = RNG.normal(size=DIM)
    above = m.Filter(must=[m.FieldCondition(key="n", range=m.Range(gte=50))])
    result = client.query_points_groups(grouped, group_by="doc", query=query.tolist(), query_filter=above, limit=3,
                                        group_size=2, search_params=EXACT, with_payload=["n"], with_vectors=True)
    scores = {i: s for i, s in scores_for(query).items() if i >= 50}
    assert as_pairs(result) == expected_groups(scores, "doc", 3, 2)
    hit = result.groups[0].hits[0]
    assert hit.payload == {"n": hit.id} and len(hit.vector) == DIM


def test_groups_of_a_recommendation_leave_out_the_examples(client: QdrantClient, grouped: str) -> None:
    query = m.RecommendQuery(recommend=m.RecommendInput(positive=[1, 2], strategy=m.RecommendStrategy.SUM_SCORES))
    result = client.query_points_groups(grouped, group_by="doc", query=query, limit=4, group_size=2,
                                        search_params=EXACT)
    unit = DENSE / np.linalg.norm(DENSE, axis=1, keepdims=True)
    sums = unit @ (unit[1] + unit[2])
    scores = {i: float(sums[i]) for i in range(N) if i not in (1, 2)}
    assert as_pairs(result) == expected_groups(scores, "doc", 4, 2)


def test_groups_over_fused_prefetches(client: QdrantClient, grouped: str) -> None:
    prefetch = [m.Prefetch(query=RNG.normal(size=DIM).tolist(), limit=20) for _ in range(2)]
    result = client.query_points_groups(grouped, group_by="doc", prefetch=prefetch,
                                        query=m.FusionQuery(fusion=m.Fusion.RRF), limit=3, group_size=2)
    assert 1 <= len(result.groups) <= 3
    best = [group.hits[0].score for group in result.groups]
    assert best == sorted(best, reverse=True)
    seen = [hit.id for group in result.groups for hit in group.hits]
    assert len(seen) == len(set(seen)) and all(payload(i)["doc"] == g.id for g in result.groups for i in
                                               [h.id for h in g.hits])


def test_with_lookup_fetches_each_group_from_another_collection(client: QdrantClient, grouped: str,
                                                                name: str) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.upsert(name, [m.PointStruct(id=d, vector=[1.0, float(d)], payload={"title": f"doc {d}"})
                         for d in range(5)])  # documents 5 and 6 are missing
    query = RNG.normal(size=DIM)
    result = client.query_points_groups(grouped, group_by="doc", query=query.tolist(), limit=7, group_size=1,
                                        search_params=EXACT, with_lookup=m.WithLookup(
                                            collection=name, with_payload=True, with_vectors=True))
    assert len(result.groups) == 7
    for group in result.groups:
        if group.id < 5:
            assert group.lookup.id == group.id and group.lookup.payload == {"title": f"doc {group.id}"}
            assert group.lookup.vector == [1.0, float(group.id)]
        else:
            assert group.lookup is None
    plain = client.query_points_groups(grouped, group_by="doc", query=query.tolist(), limit=2, group_size=1,
                                       search_params=EXACT, with_lookup=name)
    assert all(g.lookup.payload == {"title": f"doc {g.id}"} and g.lookup.vector is None for g in plain.groups
               if g.id < 5)


def test_legacy_group_endpoints(client: QdrantClient, store: RunningStore, grouped: str) -> None:
    query = RNG.normal(size=DIM)
    body = {"vector": query.tolist(), "group_by": "doc", "limit": 3, "group_size": 2, "params": {"exact": True}}
    status, answer = store.http("POST", f"/collections/{grouped}/points/search/groups", body)
    assert status == 200, answer
    assert as_pairs(m.GroupsResult.model_validate(answer["result"])) == expected_groups(scores_for(query), "doc",
                                                                                         3, 2)
    body = {"positive": [4], "negative": [5], "strategy": "sum_scores", "group_by": "doc", "limit": 3,
            "group_size": 2, "params": {"exact": True}}
    status, answer = store.http("POST", f"/collections/{grouped}/points/recommend/groups", body)
    assert status == 200, answer
    unit = DENSE / np.linalg.norm(DENSE, axis=1, keepdims=True)
    sums = unit @ (unit[4] - unit[5])
    scores = {i: float(sums[i]) for i in range(N) if i not in (4, 5)}
    assert as_pairs(m.GroupsResult.model_validate(answer["result"])) == expected_groups(scores, "doc", 3, 2)
