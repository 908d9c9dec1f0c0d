"""MMR (`{"nearest": ..., "mmr": {...}}`) on a sparse vector, which the engine does not do: the
candidates come from the engine's nearest search, the selection is Qdrant's, made here.

Qdrant's MMR picks the candidate most similar to the query first, then each time the candidate
with the best `lambda * sim(query, c) - (1 - lambda) * max(sim(c, s) for s already picked)`;
sparse similarity is the dot product. Each pick keeps its search score, as Qdrant returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from rgw.qdrant.query import Nearest, QueryRequest, Stage
from rgw.qdrant.selectors import WithVector
from rgw.qdrant.vectors import SparseVector
from rgw.store.queries import DEFAULT_MMR_LAMBDA, Planner, typed_vector
from rgw.store.render import Hit, selecting_vectors
from rgw.store.translate import engine_params, engine_payload
from rgw.store.vectors import engine_vector

if TYPE_CHECKING:
    from rgw.qdrant.collection import CollectionSpec


def is_sparse_mmr(stage: Stage, spec: CollectionSpec) -> bool:
    """A root query this module runs: MMR on a sparse vector, with no prefetch (elsewhere the
    planner refuses it)."""
    return (isinstance(stage.query, Nearest) and stage.query.mmr is not None and stage.using in spec.sparse
            and not stage.prefetch)


@dataclass(frozen=True)
class _Candidate:
    point: Any  # the engine's ScoredPoint
    vector: dict[int, float]


def sparse_mmr(planner: Planner, request: QueryRequest) -> list[Hit]:
    stage = request.stage
    query = stage.query
    assert isinstance(query, Nearest) and query.mmr is not None
    target = planner.resolve(stage, query.input, required=True)
    assert isinstance(target, SparseVector)
    mmr = query.mmr
    found = planner.collection.query([qe.QueryRequest(
        limit=stage.limit if mmr.candidates_limit is None else mmr.candidates_limit,
        offset=0,
        query=qe.Query.Nearest(engine_vector(target), using=stage.using),
        with_vector=_with(request.with_vector, stage.using),
        with_payload=engine_payload(request.with_payload),
        filter=planner.root_filter(stage, []),
        score_threshold=stage.score_threshold,
        params=engine_params(stage.params),
    )])[0]
    candidates = [_Candidate(point, _as_dict(point.vector, stage.using)) for point in found]
    lambda_ = DEFAULT_MMR_LAMBDA if mmr.diversity is None else 1.0 - mmr.diversity
    picked = select(dict(zip(target.indices, target.values, strict=True)), candidates, lambda_,
                    request.offset + stage.limit)
    return [selecting_vectors(candidate.point, request.with_vector) for candidate in picked[request.offset:]]


def select(query: dict[int, float], candidates: list[_Candidate], lambda_: float, limit: int) -> list[_Candidate]:
    if len(candidates) < 2:
        return candidates[:limit]
    relevance = [_dot(query, c.vector) for c in candidates]
    remaining = list(range(len(candidates)))
    first = max(remaining, key=lambda i: relevance[i])
    chosen = [first]
    remaining.remove(first)
    # Each candidate's highest similarity to anything picked so far, updated as picks are made.
    closest = {i: _dot(candidates[i].vector, candidates[first].vector) for i in remaining}
    while remaining and len(chosen) < limit:
        best = max(remaining, key=lambda i: lambda_ * relevance[i] - (1 - lambda_) * closest[i])
        chosen.append(best)
        remaining.remove(best)
        for i in remaining:
            closest[i] = max(closest[i], _dot(candidates[i].vector, candidates[best].vector))
    return [candidates[i] for i in chosen]


def _dot(a: dict[int, float], b: dict[int, float]) -> float:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return sum(value * large[index] for index, value in small.items() if index in large)


def _as_dict(vectors: Any, name: str) -> dict[int, float]:
    vector = typed_vector(vectors.get(name)) if isinstance(vectors, dict) else None
    if not isinstance(vector, SparseVector):
        return {}
    return dict(zip(vector.indices, vector.values, strict=True))


def _with(selection: WithVector, using: str) -> bool | list[str]:
    """The candidates' vectors: the MMR one, and whatever the caller asked for."""
    if selection is True:
        return True
    return list(dict.fromkeys([using, *(selection or ())]))
