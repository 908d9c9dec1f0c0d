"""Running Query API requests on a collection: planned for the engine (queries.py), sent as one
batch, except what the engine cannot run (MMR on a sparse vector, sparse_mmr.py)."""

from __future__ import annotations

from typing import Any

from rgw.qdrant.query import Nearest, QueryRequest
from rgw.store.errors import formula_errors
from rgw.store.queries import Planner, has_formula
from rgw.store.render import selecting_vectors
from rgw.store.sparse_mmr import is_sparse_mmr, sparse_mmr


def run_queries(planner: Planner, requests: list[QueryRequest]) -> list[list[Any]]:
    """Each request's scored points, in request order."""
    spec = planner.collection.spec
    results: list[list[Any]] = [[] for _ in requests]
    batch, positions = [], []
    for position, request in enumerate(requests):
        if is_sparse_mmr(request.stage, spec):
            results[position] = sparse_mmr(planner, request)
        else:
            batch.append(planner.request(request))
            positions.append(position)
    with formula_errors(any(has_formula(request.stage) for request in requests)):
        for position, points in zip(positions, planner.collection.query(batch), strict=True):
            results[position] = selected_vectors(requests[position], points)
    return results


def selected_vectors(request: QueryRequest, points: list[Any]) -> list[Any]:
    """The engine's answer with the vectors asked for: a root MMR query returns the vector it
    compared even when not asked to."""
    if isinstance(request.stage.query, Nearest) and request.stage.query.mmr is not None:
        return [selecting_vectors(point, request.with_vector) for point in points]
    return points
