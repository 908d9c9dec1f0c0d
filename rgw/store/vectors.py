"""Vectors in request bodies, checked against the collection's spec before they reach the engine,
so a wrong dimension or vector name is refused with Qdrant's wording and nothing is half applied."""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rgw.store.errors import FormatError, Unsupported, WrongInput
from rgw.store.fields import Obj, array, at, fail, list_of, number, unsigned
from rgw.store.spec import CollectionSpec, DenseVector

_U32 = 2**32


def point_vectors(value: Any, path: str, spec: CollectionSpec) -> Any:
    """A point's `vector` field: the default vector as a list, or a dict of named vectors."""
    if isinstance(value, list):
        return named_vector(spec, "", value, path)
    body = Obj.of(value, path)
    refuse_inference(body)
    return {name: named_vector(spec, name, vector, at(path, name)) for name, vector in body.data.items()}


def named_vector(spec: CollectionSpec, name: str, value: Any, path: str) -> Any:
    """One vector checked against the collection's vector called `name`."""
    if name in spec.dense:
        return _dense(spec.dense[name], value, path)
    if name in spec.sparse:
        return _sparse(value, path)
    raise WrongInput(f"Not existing vector name error: {name}")


def _dense(params: DenseVector, value: Any, path: str) -> list[Any]:
    if isinstance(value, dict):
        raise WrongInput("Conversion between sparse and regular vectors failed")
    vector = array(value, path)
    if params.multivector:
        rows = [array(row, at(path, i)) for i, row in enumerate(vector)]
        if not rows:
            raise FormatError(path, "a multivector needs at least one vector")
        for row in rows:
            _check_dimension(params, len(row))
        return vector
    if vector and isinstance(vector[0], list):
        raise WrongInput("Conversion between multi and regular vectors failed")
    _check_dimension(params, len(vector))
    return vector


def _check_dimension(params: DenseVector, got: int) -> None:
    if got != params.size:
        raise WrongInput(f"Vector dimension error: expected dim: {params.size}, got {got}")


def _sparse(value: Any, path: str) -> qe.SparseVector:
    if isinstance(value, list):
        raise WrongInput("Conversion between sparse and regular vectors failed")
    body = Obj.of(value, path)
    indices = body.req("indices", list_of(_u32))
    values = body.req("values", list_of(number))
    if len(indices) != len(values):
        raise FormatError(path, "`indices` and `values` must have the same length")
    if len(set(indices)) != len(indices):
        raise FormatError(body.where("indices"), "indices must be unique")
    return qe.SparseVector(indices, values)


def _u32(value: Any, path: str) -> int:
    index = unsigned(value, path)
    if index >= _U32:
        raise fail(path, "an index below 2^32", value)
    return index


def refuse_inference(body: Obj) -> None:
    """Document / Image / InferenceObject need a server-side model, which a region store lacks."""
    if "model" in body.data and any(key in body.data for key in ("text", "image", "object")):
        raise Unsupported(f"{body.path or 'vector'}: inference objects (Document, Image, InferenceObject)")
