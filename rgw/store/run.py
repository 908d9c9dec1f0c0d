"""Running Query API requests on a collection: planned for the engine (queries.py), sent as one
batch, except what the engine cannot run (MMR on a sparse vector, sparse_mmr.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rgw.qdrant.errors import WrongInput
from rgw.qdrant.query import QueryRequest
from rgw.store.errors import Internal
from rgw.store.queries import Planner, has_formula
from rgw.store.sparse_mmr import check_no_nested_sparse_mmr, is_sparse_mmr, sparse_mmr


def run_queries(planner: Planner, requests: list[QueryRequest]) -> list[list[Any]]:
    """Each request's scored points, in request order."""
    spec = planner.collection.spec
    results: list[list[Any]] = [[] for _ in requests]
    batch, positions = [], []
    for position, request in enumerate(requests):
        check_no_nested_sparse_mmr(request.stage, spec)
        if is_sparse_mmr(request.stage, spec):
            results[position] = sparse_mmr(planner, request)
        else:
            batch.append(planner.request(request))
            positions.append(position)
    with formula_errors(any(has_formula(request.stage) for request in requests)):
        for position, points in zip(positions, planner.collection.query(batch), strict=True):
            results[position] = points
    return results


@contextlib.contextmanager
def formula_errors(formulas: bool) -> Iterator[None]:
    """The engine aborts a formula it cannot evaluate for some point (a variable with no value
    and no default, a division by zero without `by_zero_default`, a result that is not a finite
    number) with a bare "cancelled" error: that is the request's fault, so say so."""
    try:
        yield
    except Internal as exc:
        if formulas and "Operation cancelled" in exc.message:
            raise WrongInput("the formula could not be evaluated for some point: a variable missing from its "
                             "payload with no value in `defaults`, a division by zero without `by_zero_default`, "
                             "or a result that is not a finite number") from exc
        raise
