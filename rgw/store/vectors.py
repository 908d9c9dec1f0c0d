"""Typed vectors (rgw.qdrant.vectors) -> what the engine takes: dense lists as they are (no
copy), sparse vectors as `qe.SparseVector`."""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rgw.qdrant.vectors import SparseVector, Vector, Vectors


def engine_vectors(vectors: Vectors) -> Any:
    if isinstance(vectors, list):
        return vectors
    if isinstance(vectors, dict):
        return {name: engine_vector(vector) for name, vector in vectors.items()}
    return engine_vector(vectors)


def engine_vector(vector: Vector) -> Any:
    if isinstance(vector, SparseVector):
        return qe.SparseVector(vector.indices, vector.values)
    return vector
