"""Exploration queries through the real client: recommend (each strategy, ids and vectors),
discover, context, MMR (dense and sparse), relevance feedback, and the legacy recommend /
discover / search endpoints, each checked against brute force over the inserted vectors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

from tests.store.brute import Ranking, assert_ranked, mmr, scaled_sigmoid, sparse_dot, top, unit

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore

N, DIM = 150, 6
RNG = np.random.default_rng(5)
DENSE = RNG.normal(size=(N, DIM))
UNIT = unit(DENSE)  # what a cosine collection stores
SPARSE = [{int(i): float(v) for i, v in zip(RNG.choice(30, size=4, replace=False), RNG.uniform(0.1, 1.0, 4),
                                            strict=True)} for _ in range(N)]
EXACT = m.SearchParams(exact=True)


@pytest.fixture(scope="module")
def explore(client: QdrantClient) -> Iterator[str]:
    name = f"explore_{uuid.uuid4().hex[:8]}"
    client.create_collection(name, vectors_config={"d": m.VectorParams(size=DIM, distance=m.Distance.COSINE)},
                             sparse_vectors_config={"s": m.SparseVectorParams()})
    client.upsert(name, [m.PointStruct(id=i, vector={"d": DENSE[i].tolist(), "s": m.SparseVector(
        indices=list(SPARSE[i]), values=list(SPARSE[i].values()))}, payload={"n": i}) for i in range(N)])
    yield name


def sims(vector: np.ndarray) -> np.ndarray:
    return UNIT @ (vector / np.linalg.norm(vector))


def ranked(points: list[Any]) -> Ranking:
    return [(p.id, p.score) for p in points]


def others(excluded: set[int]) -> list[int]:
    return [i for i in range(N) if i not in excluded]


def recommend(client: QdrantClient, name: str, positive: list[Any], negative: list[Any],
              strategy: m.RecommendStrategy, limit: int) -> Ranking:
    query = m.RecommendQuery(recommend=m.RecommendInput(positive=positive, negative=negative, strategy=strategy))
    return ranked(client.query_points(name, query=query, using="d", limit=limit, search_params=EXACT).points)


def test_recommend_average_vector(client: QdrantClient, explore: str) -> None:
    found = recommend(client, explore, [3, 8], [21], m.RecommendStrategy.AVERAGE_VECTOR, 8)
    # avg_pos + (avg_pos - avg_neg), over the stored (normalised) vectors
    target = 2 * (UNIT[3] + UNIT[8]) / 2 - UNIT[21]
    scores = sims(target)
    assert_ranked(found, {i: float(scores[i]) for i in others({3, 8, 21})}, 8)
    # The default strategy, and examples given as vectors (not left out of the results).
    found = ranked(client.query_points(explore, query=m.RecommendQuery(recommend=m.RecommendInput(
        positive=[DENSE[3].tolist(), 8])), using="d", limit=5, search_params=EXACT).points)
    scores = sims((DENSE[3] + UNIT[8]) / 2)
    assert_ranked(found, {i: float(scores[i]) for i in others({8})}, 5)


def test_recommend_best_score(client: QdrantClient, explore: str) -> None:
    positive, negative = [5, 40, 77], [12, 99]
    found = recommend(client, explore, positive, negative, m.RecommendStrategy.BEST_SCORE, 10)
    pos = np.max(UNIT @ UNIT[positive].T, axis=1)
    neg = np.max(UNIT @ UNIT[negative].T, axis=1)
    expected = {i: scaled_sigmoid(pos[i]) if pos[i] > neg[i] else -scaled_sigmoid(neg[i])
                for i in others({*positive, *negative})}
    assert_ranked(found, expected, 10)
    # Negatives only: everything scores below zero, farthest from the negatives first.
    found = recommend(client, explore, [], [12], m.RecommendStrategy.BEST_SCORE, 5)
    assert_ranked(found, {i: -scaled_sigmoid(float(UNIT[i] @ UNIT[12])) for i in others({12})}, 5)


def test_recommend_sum_scores(client: QdrantClient, explore: str) -> None:
    positive, negative = [1, 2], [3]
    found = recommend(client, explore, positive, negative, m.RecommendStrategy.SUM_SCORES, 10)
    scores = (UNIT @ UNIT[positive].T).sum(axis=1) - (UNIT @ UNIT[negative].T).sum(axis=1)
    assert_ranked(found, {i: float(scores[i]) for i in others({1, 2, 3})}, 10)


def test_recommend_on_sparse_vectors(client: QdrantClient, explore: str) -> None:
    query = m.RecommendQuery(recommend=m.RecommendInput(positive=[4, 9], negative=[30]))
    found = ranked(client.query_points(explore, query=query, using="s", limit=6).points)
    avg = {i: (SPARSE[4].get(i, 0) + SPARSE[9].get(i, 0)) / 2 for i in {*SPARSE[4], *SPARSE[9]}}
    target = {i: 2 * avg.get(i, 0) - SPARSE[30].get(i, 0) for i in {*avg, *SPARSE[30]}}
    expected = {i: s for i in others({4, 9, 30}) if (s := sparse_dot(target, SPARSE[i])) != 0}
    assert_ranked(found, expected, 6)


def test_discover_ranks_by_context_then_target(client: QdrantClient, explore: str) -> None:
    target, pairs = 10, [(20, 30), (40, 50)]
    query = m.DiscoverQuery(discover=m.DiscoverInput(target=target, context=[
        m.ContextPair(positive=p, negative=n) for p, n in pairs]))
    found = ranked(client.query_points(explore, query=query, using="d", limit=N, search_params=EXACT).points)

    def rank(i: int) -> int:
        return sum(1 if UNIT[i] @ UNIT[p] > UNIT[i] @ UNIT[n] else -1 for p, n in pairs)

    expected = {i: rank(i) + scaled_sigmoid(float(UNIT[i] @ UNIT[target])) for i in others({10, 20, 30, 40, 50})}
    assert_ranked(found, expected, N)


def test_context_prefers_the_positive_side(client: QdrantClient, explore: str) -> None:
    positive, negative = 60, 61
    query = m.ContextQuery(context=[m.ContextPair(positive=positive, negative=negative)])
    found = ranked(client.query_points(explore, query=query, using="d", limit=N, search_params=EXACT).points)
    diff = {i: float(UNIT[i] @ UNIT[positive] - UNIT[i] @ UNIT[negative]) for i in others({60, 61})}
    assert {i for i, _ in found} == set(diff)
    # Points closer to the positive example score 0; the others below 0, nearest the boundary first.
    on_positive_side = {i for i, d in diff.items() if d > 1e-5}
    assert {i for i, s in found if s == 0} == on_positive_side
    negative_side = [i for i, s in found if s < 0]
    assert negative_side == sorted(negative_side, key=lambda i: -diff[i])


@pytest.mark.parametrize("diversity", [0.0, 0.5, 0.9])
def test_mmr_on_a_dense_vector(client: QdrantClient, explore: str, diversity: float) -> None:
    query = RNG.normal(size=DIM)
    found = client.query_points(explore, query=m.NearestQuery(nearest=query.tolist(), mmr=m.Mmr(
        diversity=diversity, candidates_limit=30)), using="d", limit=8, search_params=EXACT).points
    scores = sims(query)
    candidates = {i: float(scores[i]) for i, _ in top({i: float(scores[i]) for i in range(N)}, 30)}
    expected = mmr(candidates, lambda a, b: float(UNIT[a] @ UNIT[b]), 1 - diversity, 8)
    assert [p.id for p in found] == expected
    assert all(p.score == pytest.approx(candidates[p.id], abs=1e-5) for p in found)  # relevance, not MMR score
    assert all(p.vector is None for p in found)  # not asked for


def test_mmr_returns_the_vectors_asked_for(client: QdrantClient, explore: str) -> None:
    query = m.NearestQuery(nearest=DENSE[3].tolist(), mmr=m.Mmr(diversity=0.5))
    found = client.query_points(explore, query=query, using="d", limit=3, with_vectors=["s"]).points
    assert all(set(p.vector) == {"s"} for p in found)
    groups = client.query_points_groups(explore, group_by="n", query=query, using="d", limit=2, group_size=1)
    assert all(hit.vector is None for group in groups.groups for hit in group.hits)


def test_mmr_on_a_sparse_vector(client: QdrantClient, explore: str) -> None:
    query = {1: 1.0, 5: 0.7, 9: 0.4, 17: 0.9}
    found = client.query_points(explore, query=m.NearestQuery(
        nearest=m.SparseVector(indices=list(query), values=list(query.values())),
        mmr=m.Mmr(diversity=0.6, candidates_limit=25)), using="s", limit=6, with_vectors=False).points
    relevance = {i: s for i in range(N) if (s := sparse_dot(query, SPARSE[i])) != 0}
    candidates = dict(top(relevance, 25))
    expected = mmr(candidates, lambda a, b: sparse_dot(SPARSE[a], SPARSE[b]), 0.4, 6)
    assert [p.id for p in found] == expected
    assert all(p.score == pytest.approx(candidates[p.id], rel=1e-4) and p.vector is None for p in found)


def test_mmr_in_a_prefetch(client: QdrantClient, explore: str) -> None:
    query = m.NearestQuery(nearest=DENSE[0].tolist(), mmr=m.Mmr(diversity=0.7))
    alone = client.query_points(explore, query=query, using="d", limit=5, search_params=EXACT).points
    fused = client.query_points(explore, prefetch=m.Prefetch(query=query, using="d", limit=5, params=EXACT),
                                query=m.FusionQuery(fusion=m.Fusion.RRF), limit=5).points
    # The prefetch picks the same points (fusion then ranks them by their relevance scores).
    assert {p.id for p in fused} == {p.id for p in alone}


def test_relevance_feedback(client: QdrantClient, explore: str) -> None:
    def feedback(items: list[m.FeedbackItem]) -> m.RelevanceFeedbackQuery:
        return m.RelevanceFeedbackQuery(relevance_feedback=m.RelevanceFeedbackInput(
            target=DENSE[7].tolist(), feedback=items,
            strategy=m.NaiveFeedbackStrategy(naive=m.NaiveFeedbackStrategyParams(a=1.0, b=1.0, c=1.0))))

    found = ranked(client.query_points(explore, query=feedback([]), using="d", limit=6, search_params=EXACT).points)
    scores = sims(DENSE[7])
    assert_ranked(found, {i: float(scores[i]) for i in range(N)}, 6)  # no feedback: the target alone
    items = [m.FeedbackItem(example=11, score=0.9), m.FeedbackItem(example=12, score=0.1)]
    found = client.query_points(explore, query=feedback(items), using="d", limit=10).points
    assert len(found) == 10 and not {11, 12} & {p.id for p in found}


# -- the legacy endpoints answer as their Query API equivalents --------------------------------

def raw_points(store: RunningStore, path: str, body: Any) -> list[m.ScoredPoint]:
    status, answer = store.http("POST", path, body)
    assert status == 200, answer
    return [m.ScoredPoint.model_validate(point) for point in answer["result"]]


@pytest.mark.parametrize("strategy", ["average_vector", "best_score", "sum_scores"])
def test_legacy_recommend(client: QdrantClient, store: RunningStore, explore: str, strategy: str) -> None:
    body = {"positive": [3, 14], "negative": [15], "strategy": strategy, "using": "d", "limit": 6,
            "params": {"exact": True}, "with_payload": True}
    legacy = raw_points(store, f"/collections/{explore}/points/recommend", body)
    modern = recommend(client, explore, [3, 14], [15], m.RecommendStrategy(strategy), N)
    assert_ranked(ranked(legacy), dict(modern), 6)
    assert all(p.payload == {"n": p.id} for p in legacy)
    status, answer = store.http("POST", f"/collections/{explore}/points/recommend/batch",
                                {"searches": [body, {**body, "limit": 2}]})
    assert status == 200 and [len(r) for r in answer["result"]] == [6, 2]


def test_legacy_discover_and_context(client: QdrantClient, store: RunningStore, explore: str) -> None:
    context = [{"positive": 20, "negative": 30}]
    body = {"target": 10, "context": context, "using": "d", "limit": 5, "params": {"exact": True}}
    legacy = raw_points(store, f"/collections/{explore}/points/discover", body)
    modern = client.query_points(explore, query=m.DiscoverQuery(discover=m.DiscoverInput(
        target=10, context=[m.ContextPair(positive=20, negative=30)])), using="d", limit=N, search_params=EXACT)
    assert_ranked(ranked(legacy), dict(ranked(modern.points)), 5)
    # Without a target: a context search.
    legacy = raw_points(store, f"/collections/{explore}/points/discover", {**body, "target": None, "limit": N})
    modern = client.query_points(explore, query=m.ContextQuery(context=[m.ContextPair(positive=20, negative=30)]),
                                 using="d", limit=N, search_params=EXACT)
    assert_ranked(ranked(legacy), dict(ranked(modern.points)), N)
    status, answer = store.http("POST", f"/collections/{explore}/points/discover/batch",
                                {"searches": [body, {**body, "limit": 1}]})
    assert status == 200 and [len(r) for r in answer["result"]] == [5, 1]


def test_legacy_search_with_sparse_vector(store: RunningStore, explore: str) -> None:
    query = {"indices": [1, 5], "values": [1.0, 0.5]}
    legacy = raw_points(store, f"/collections/{explore}/points/search",
                        {"vector": {"name": "s", "vector": query}, "limit": 4})
    expected = {i: s for i in range(N) if (s := sparse_dot({1: 1.0, 5: 0.5}, SPARSE[i])) != 0}
    assert_ranked(ranked(legacy), expected, 4)
