"""The query vector of the `average_vector` recommend strategy, which the engine lacks: the mean
of the positive examples, pushed away from the negative ones (`avg_pos + (avg_pos - avg_neg)`).

As Qdrant computes it: dense vectors element-wise; sparse vectors over the union of their
indices (a missing index counts as 0); multivectors are not averaged but concatenated, the
negatives' rows negated, since max-sim scores against each row anyway. Every example must be
of one kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rgw.qdrant.errors import WrongInput
from rgw.qdrant.vectors import SparseVector, Vector


def average_vector(positive: Sequence[Vector], negative: Sequence[Vector]) -> Vector:
    if not positive:
        raise WrongInput("Positive vectors should not be empty with `average` strategy")
    kinds = {_kind(vector) for vector in (*positive, *negative)}
    if len(kinds) > 1:
        raise WrongInput("Positive and negative vectors should be of the same type, either all dense or all "
                         "sparse or all multi")
    if kinds == {"sparse"}:
        return _sparse([v for v in positive if isinstance(v, SparseVector)],
                       [v for v in negative if isinstance(v, SparseVector)])
    rows: list[Any] = [v for v in positive if not isinstance(v, SparseVector)]
    away: list[Any] = [v for v in negative if not isinstance(v, SparseVector)]
    if kinds == {"multi"}:
        return [row for vector in rows for row in vector] + [[-x for x in row] for vector in away for row in vector]
    return _dense(rows, away)


def _kind(vector: Vector) -> str:
    if isinstance(vector, SparseVector):
        return "sparse"
    return "multi" if vector and isinstance(vector[0], list) else "dense"


def _dense(positive: Sequence[list[float]], negative: Sequence[list[float]]) -> list[float]:
    mean = _dense_mean(positive)
    if not negative:
        return mean
    away = _dense_mean(negative)
    if len(away) != len(mean):
        raise WrongInput(f"Positive and negative vectors must have the same dimension for average-vector "
                         f"recommend: positive has dim {len(mean)}, negative has dim {len(away)}")
    return [2 * p - n for p, n in zip(mean, away, strict=True)]


def _dense_mean(vectors: Sequence[list[float]]) -> list[float]:
    size = len(vectors[0])
    if any(len(v) != size for v in vectors):
        raise WrongInput("Vector dimension error: examples of different dimensions cannot be averaged")
    return [sum(column) / len(vectors) for column in zip(*vectors, strict=True)]


def _sparse(positive: Sequence[SparseVector], negative: Sequence[SparseVector]) -> SparseVector:
    mean = _sparse_mean(positive)
    if negative:
        away = _sparse_mean(negative)
        mean = {i: 2 * mean.get(i, 0.0) - away.get(i, 0.0) for i in sorted(mean.keys() | away.keys())}
    indices = sorted(mean)
    return SparseVector(indices, [mean[i] for i in indices])


def _sparse_mean(vectors: Sequence[SparseVector]) -> dict[int, float]:
    total: dict[int, float] = {}
    for vector in vectors:
        for index, value in zip(vector.indices, vector.values, strict=True):
            total[index] = total.get(index, 0.0) + value
    return {index: value / len(vectors) for index, value in total.items()}
