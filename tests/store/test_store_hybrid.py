"""Multi-stage queries through the real client: prefetch (nested, filtered, thresholded, per
vector name), fusion (RRF, parametrised and weighted RRF, DBSF), formulas and decay functions,
order_by and sample over prefetches, lookup_from and batches; each answer checked against a
brute-force computation over the inserted vectors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

from tests.store.brute import (
    Ranking,
    assert_ranked,
    cosine,
    dbsf,
    exp_decay,
    gauss_decay,
    haversine_meters,
    lin_decay,
    rrf,
    sparse_dot,
    top,
)

N, DIM = 120, 8
RNG = np.random.default_rng(11)
DENSE = RNG.normal(size=(N, DIM))
SPARSE = [{int(i): float(v) for i, v in zip(RNG.choice(40, size=5, replace=False), RNG.uniform(0.1, 1.0, 5),
                                            strict=True)} for _ in range(N)]
LOCS = [(float(RNG.uniform(-10, 10)), float(RNG.uniform(40, 60))) for _ in range(N)]
EXACT = m.SearchParams(exact=True)


def payload(i: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n": i, "g": f"g{i % 5}", "loc": {"lon": LOCS[i][0], "lat": LOCS[i][1]},
                           "when": f"2024-01-01T00:00:{i % 60:02d}Z"}
    if i % 2 == 0:
        out["boost"] = 1 + i / 100
    return out


@pytest.fixture(scope="module")
def hybrid(client: QdrantClient) -> Iterator[str]:
    name = f"hybrid_{uuid.uuid4().hex[:8]}"
    client.create_collection(name, vectors_config={"d": m.VectorParams(size=DIM, distance=m.Distance.COSINE)},
                             sparse_vectors_config={"s": m.SparseVectorParams()})
    client.upsert(name, [m.PointStruct(id=i, vector={"d": DENSE[i].tolist(), "s": m.SparseVector(
        indices=list(SPARSE[i]), values=list(SPARSE[i].values()))}, payload=payload(i)) for i in range(N)])
    client.create_payload_index(name, "n", m.PayloadSchemaType.INTEGER)
    yield name


QUERY = RNG.normal(size=DIM)
SPARSE_QUERY = {3: 1.0, 7: 0.5, 11: 0.8, 20: 0.3}


def dense_scores(query: np.ndarray = QUERY, ids: range | list[int] = range(N)) -> dict[int, float]:
    sims = cosine(DENSE, query)
    return {i: float(sims[i]) for i in ids}


def sparse_scores(query: dict[int, float] = SPARSE_QUERY, ids: range | list[int] = range(N)) -> dict[int, float]:
    # Sparse search returns only points sharing an index with the query.
    return {i: s for i in ids if (s := sparse_dot(query, SPARSE[i])) != 0}


def ranked(points: list[m.ScoredPoint]) -> Ranking:
    return [(p.id, p.score) for p in points]


def dense_prefetch(limit: int, **extra: Any) -> m.Prefetch:
    return m.Prefetch(query=QUERY.tolist(), using="d", limit=limit, params=EXACT, **extra)


def sparse_prefetch(limit: int, **extra: Any) -> m.Prefetch:
    return m.Prefetch(query=m.SparseVector(indices=list(SPARSE_QUERY), values=list(SPARSE_QUERY.values())),
                      using="s", limit=limit, **extra)


def test_prefetch_alone_matches_brute_force(client: QdrantClient, hybrid: str) -> None:
    found = client.query_points(hybrid, query=QUERY.tolist(), using="d", limit=7, search_params=EXACT).points
    assert_ranked(ranked(found), dense_scores(), 7)
    found = client.query_points(hybrid, query=sparse_prefetch(1).query, using="s", limit=7).points
    assert_ranked(ranked(found), sparse_scores(), 7)


@pytest.mark.parametrize("fusion", [m.FusionQuery(fusion=m.Fusion.RRF), m.RrfQuery(rrf=m.Rrf()),
                                    m.RrfQuery(rrf=m.Rrf(k=60)), m.RrfQuery(rrf=m.Rrf(k=5, weights=[3.0, 1.0]))])
def test_rrf_fuses_dense_and_sparse_as_brute_force(client: QdrantClient, hybrid: str, fusion: Any) -> None:
    found = client.query_points(hybrid, prefetch=[dense_prefetch(20), sparse_prefetch(20)], query=fusion,
                                limit=10).points
    dense, sparse = top(dense_scores(), 20), top(sparse_scores(), 20)
    params = fusion.rrf if isinstance(fusion, m.RrfQuery) else m.Rrf()
    assert_ranked(ranked(found), rrf([dense, sparse], k=params.k or 2, weights=params.weights), 10)


def test_dbsf_fuses_dense_and_sparse_as_brute_force(client: QdrantClient, hybrid: str) -> None:
    found = client.query_points(hybrid, prefetch=[dense_prefetch(25), sparse_prefetch(15)],
                                query=m.FusionQuery(fusion=m.Fusion.DBSF), limit=12).points
    assert_ranked(ranked(found), dbsf([top(dense_scores(), 25), top(sparse_scores(), 15)]), 12)


def test_nested_prefetch_with_filters_thresholds_and_rescoring(client: QdrantClient, hybrid: str) -> None:
    # Inner: the sparse top 30, rescored by the dense vector, top 10 of those.
    rescored = m.Prefetch(prefetch=[sparse_prefetch(30)], query=QUERY.tolist(), using="d", limit=10, params=EXACT)
    # Beside it: dense neighbours in group g1 above a score threshold.
    in_g1 = m.Filter(must=[m.FieldCondition(key="g", match=m.MatchValue(value="g1"))])
    filtered = dense_prefetch(10, filter=in_g1, score_threshold=0.1)
    found = client.query_points(hybrid, prefetch=[rescored, filtered], query=m.FusionQuery(fusion=m.Fusion.RRF),
                                limit=8).points

    sparse_top = [i for i, _ in top(sparse_scores(), 30)]
    inner = top(dense_scores(ids=sparse_top), 10)
    g1 = {i: s for i, s in dense_scores().items() if i % 5 == 1 and s >= 0.1}
    assert_ranked(ranked(found), rrf([inner, top(g1, 10)]), 8)


def test_root_filter_and_threshold_apply_to_fused_results(client: QdrantClient, hybrid: str) -> None:
    below_60 = m.Filter(must=[m.FieldCondition(key="n", range=m.Range(lt=60))])
    found = client.query_points(hybrid, prefetch=[dense_prefetch(20), sparse_prefetch(20)],
                                query=m.FusionQuery(fusion=m.Fusion.RRF), query_filter=below_60,
                                score_threshold=0.4, limit=20).points
    # The root filter reaches the prefetches: they rank only points below 60.
    allowed = set(range(60))
    dense = top(dense_scores(), 20, allowed)
    sparse = top(sparse_scores(), 20, allowed)
    expected = {i: s for i, s in rrf([dense, sparse]).items() if s >= 0.4}
    assert_ranked(ranked(found), expected, 20)


def formula_query(formula: Any, defaults: dict[str, Any] | None = None) -> m.FormulaQuery:
    return m.FormulaQuery(formula=formula, defaults=defaults or {})


def test_formula_boosts_by_payload_and_condition(client: QdrantClient, hybrid: str) -> None:
    in_g2 = m.FieldCondition(key="g", match=m.MatchValue(value="g2"))
    formula = m.SumExpression(sum=["$score", m.MultExpression(mult=[0.01, "n"]),
                                   m.MultExpression(mult=[0.5, in_g2])])
    found = client.query_points(hybrid, prefetch=dense_prefetch(40), query=formula_query(formula), limit=10).points
    candidates = dict(top(dense_scores(), 40))
    expected = {i: s + 0.01 * i + (0.5 if i % 5 == 2 else 0) for i, s in candidates.items()}
    assert_ranked(ranked(found), expected, 10)


def test_formula_defaults_fill_missing_variables(client: QdrantClient, hybrid: str) -> None:
    formula = m.MultExpression(mult=["$score", "boost"])
    found = client.query_points(hybrid, prefetch=dense_prefetch(30), query=formula_query(formula, {"boost": 0.5}),
                                limit=10).points
    expected = {i: s * (1 + i / 100 if i % 2 == 0 else 0.5) for i, s in top(dense_scores(), 30)}
    assert_ranked(ranked(found), expected, 10)


def test_formula_reads_each_prefetchs_score(client: QdrantClient, hybrid: str) -> None:
    both = [dense_prefetch(N), sparse_prefetch(N)]
    formula = m.SumExpression(sum=["$score[0]", m.MultExpression(mult=[2.0, "$score[1]"])])
    found = client.query_points(hybrid, prefetch=both, query=formula_query(formula), limit=10).points
    dense, sparse = dense_scores(), sparse_scores()
    expected = {i: dense[i] + 2 * sparse.get(i, 0.0) for i in range(N)}
    assert_ranked(ranked(found), expected, 10)


@pytest.mark.parametrize(("expression", "decay"), [
    (m.LinDecayExpression, lin_decay), (m.ExpDecayExpression, exp_decay), (m.GaussDecayExpression, gauss_decay)])
def test_decay_functions(client: QdrantClient, hybrid: str, expression: Any, decay: Any) -> None:
    key = {m.LinDecayExpression: "lin_decay", m.ExpDecayExpression: "exp_decay",
           m.GaussDecayExpression: "gauss_decay"}[expression]
    params = m.DecayParamsExpression(x="n", target=50, scale=20, midpoint=0.3)
    formula = m.SumExpression(sum=["$score", expression(**{key: params})])
    found = client.query_points(hybrid, prefetch=dense_prefetch(N), query=formula_query(formula), limit=10).points
    expected = {i: s + decay(i, 50, 20, 0.3) for i, s in dense_scores().items()}
    assert_ranked(ranked(found), expected, 10)


def test_geo_distance_and_datetime_in_formulas(client: QdrantClient, hybrid: str) -> None:
    origin = m.GeoPoint(lon=0.0, lat=50.0)
    near = m.GaussDecayExpression(gauss_decay=m.DecayParamsExpression(
        x=m.GeoDistance(geo_distance=m.GeoDistanceParams(origin=origin, to="loc")), scale=500_000))
    found = client.query_points(hybrid, prefetch=dense_prefetch(N), query=formula_query(near), limit=10).points
    expected = {i: gauss_decay(haversine_meters(0.0, 50.0, *LOCS[i]), 0, 500_000, 0.5) for i in range(N)}
    assert_ranked(ranked(found), expected, 10, rel=1e-3)
    # A datetime reads as seconds since the epoch.
    latest = m.SumExpression(sum=[m.DatetimeKeyExpression(datetime_key="when"),
                                  m.NegExpression(neg=m.DatetimeExpression(datetime="2024-01-01T00:00:00Z"))])
    found = client.query_points(hybrid, prefetch=dense_prefetch(N), query=formula_query(latest), limit=5).points
    assert_ranked(ranked(found), {i: float(i % 60) for i in range(N)}, 5)


def test_order_by_and_sample_over_a_prefetch(client: QdrantClient, hybrid: str) -> None:
    nearest = [i for i, _ in top(dense_scores(), 20)]
    found = client.query_points(hybrid, prefetch=dense_prefetch(20),
                                query=m.OrderByQuery(order_by=m.OrderBy(key="n", direction=m.Direction.DESC)),
                                limit=5).points
    assert [p.id for p in found] == sorted(nearest, reverse=True)[:5]
    sample = client.query_points(hybrid, prefetch=dense_prefetch(20), query=m.SampleQuery(sample=m.Sample.RANDOM),
                                 limit=8).points
    assert len({p.id for p in sample}) == 8 and {p.id for p in sample} <= set(nearest)


def test_lookup_from_takes_vectors_from_another_collection(client: QdrantClient, hybrid: str, name: str) -> None:
    client.create_collection(name, vectors_config={"v": m.VectorParams(size=DIM, distance=m.Distance.DOT)})
    other = RNG.normal(size=(3, DIM))
    client.upsert(name, [m.PointStruct(id=i, vector={"v": other[i].tolist()}) for i in range(3)])
    lookup = m.LookupLocation(collection=name, vector="v")
    found = client.query_points(hybrid, query=1, using="d", lookup_from=lookup, limit=5, search_params=EXACT).points
    # Point 1 of the other collection gives the vector; point 1 here is not left out.
    assert_ranked(ranked(found), dense_scores(other[1]), 5)
    recommended = client.query_points(hybrid, query=m.RecommendQuery(recommend=m.RecommendInput(
        positive=[0, 2], strategy=m.RecommendStrategy.SUM_SCORES)), using="d", lookup_from=lookup, limit=5,
        search_params=EXACT).points
    a, b = dense_scores(other[0]), dense_scores(other[2])
    assert_ranked(ranked(recommended), {i: a[i] + b[i] for i in range(N)}, 5)
    # In a prefetch too.
    fused = client.query_points(hybrid, prefetch=[m.Prefetch(query=2, using="d", lookup_from=lookup, limit=10,
                                                             params=EXACT), sparse_prefetch(10)],
                                query=m.FusionQuery(fusion=m.Fusion.RRF), limit=6).points
    assert_ranked(ranked(fused), rrf([top(dense_scores(other[2]), 10), top(sparse_scores(), 10)]), 6)


def test_ids_in_prefetches_are_left_out_of_the_results(client: QdrantClient, hybrid: str) -> None:
    found = client.query_points(hybrid, prefetch=[m.Prefetch(query=7, using="d", limit=10, params=EXACT),
                                                  sparse_prefetch(10)],
                                query=m.FusionQuery(fusion=m.Fusion.RRF), limit=20).points
    assert 7 not in {p.id for p in found}
    by_seven = top({i: s for i, s in dense_scores(DENSE[7]).items() if i != 7}, 10)
    sparse = top({i: s for i, s in sparse_scores().items() if i != 7}, 10)
    assert_ranked(ranked(found), rrf([by_seven, sparse]), 20)


def test_batch_answers_each_form_as_alone(client: QdrantClient, hybrid: str) -> None:
    requests = [
        m.QueryRequest(prefetch=[dense_prefetch(20), sparse_prefetch(20)], query=m.FusionQuery(fusion=m.Fusion.RRF),
                       limit=5),
        m.QueryRequest(query=QUERY.tolist(), using="d", limit=4, params=EXACT, with_payload=True),
        m.QueryRequest(prefetch=dense_prefetch(30), query=formula_query(m.MultExpression(mult=["$score", "n"])),
                       limit=3),
        m.QueryRequest(query=m.RecommendQuery(recommend=m.RecommendInput(positive=[1, 2])), using="d", limit=3,
                       params=EXACT),
    ]
    results = client.query_batch_points(hybrid, requests)
    assert len(results) == len(requests)
    for request, result in zip(requests, results, strict=True):
        # Alone, with a larger limit: fusion gives equal scores to some points, in any order.
        alone = client.query_points(hybrid, query=request.query, prefetch=request.prefetch, using=request.using,
                                    limit=N, search_params=request.params).points
        assert_ranked(ranked(result.points), dict(ranked(alone)), request.limit)
    assert all(p.payload["n"] == p.id for p in results[1].points)
    assert all(p.payload is None for p in results[0].points)
