"""Vectors in request bodies, checked against the collection's spec, so a wrong dimension or
vector name is refused with Qdrant's wording before anything is applied or journaled.

Dense vectors stay the lists the JSON parser made (they can be large; nothing copies them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rgw.qdrant.collection import CollectionSpec, DenseParams
from rgw.qdrant.errors import FormatError, Unsupported, WrongInput
from rgw.qdrant.fields import Obj, array, at, fail, list_of, number, unsigned

_U32 = 2**32


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


# One vector: dense, multi-dense (a list of rows) or sparse.
Vector = list[float] | list[list[float]] | SparseVector
# A point's `vector` field: the unnamed vector, or vector name -> vector.
Vectors = Vector | dict[str, Vector]


def point_vectors(value: Any, path: str, spec: CollectionSpec) -> Vectors:
    if isinstance(value, list):
        return named_vector(spec, "", value, path)
    body = Obj.of(value, path)
    refuse_inference(body)
    return {name: named_vector(spec, name, vector, at(path, name)) for name, vector in body.data.items()}


def named_vector(spec: CollectionSpec, name: str, value: Any, path: str) -> Vector:
    """One vector checked against the collection's vector called `name`."""
    if isinstance(value, dict):
        refuse_inference(Obj.of(value, path))
    check_vector_name(spec, name)
    if name in spec.dense:
        return _dense(spec.dense[name], value, path)
    return _sparse(value, path)


def check_vector_name(spec: CollectionSpec, name: str) -> None:
    if name not in spec.dense and name not in spec.sparse:
        raise WrongInput(f"Not existing vector name error: {name}")


def _dense(params: DenseParams, value: Any, path: str) -> list[Any]:
    if isinstance(value, dict):
        raise WrongInput("Conversion between sparse and regular vectors failed")
    vector = array(value, path)
    if params.multivector:
        rows = [array(row, at(path, i)) for i, row in enumerate(vector)]
        if not rows:
            raise FormatError(path, "a multivector needs at least one vector")
        for i, row in enumerate(rows):
            _check_dimension(params, len(row))
            _check_numbers(row, at(path, i))
        return vector
    if vector and isinstance(vector[0], list):
        raise WrongInput("Conversion between multi and regular vectors failed")
    _check_dimension(params, len(vector))
    _check_numbers(vector, path)
    return vector


def _check_dimension(params: DenseParams, got: int) -> None:
    if got != params.size:
        raise WrongInput(f"Vector dimension error: expected dim: {params.size}, got {got}")


def _check_numbers(vector: list[Any], path: str) -> None:
    # sum() raises TypeError at the first non-number at C speed; a Python loop over every element
    # would cost more than the engine's own conversion of the vector.
    try:
        sum(vector)
    except TypeError:
        raise FormatError(path, "expected a vector of numbers") from None


def _sparse(value: Any, path: str) -> SparseVector:
    if isinstance(value, list):
        raise WrongInput("Conversion between sparse and regular vectors failed")
    body = Obj.of(value, path)
    indices = body.req("indices", list_of(_u32))
    values = body.req("values", list_of(number))
    if len(indices) != len(values):
        raise FormatError(path, "`indices` and `values` must have the same length")
    if len(set(indices)) != len(indices):
        raise FormatError(body.where("indices"), "indices must be unique")
    return SparseVector(indices, values)


def _u32(value: Any, path: str) -> int:
    index = unsigned(value, path)
    if index >= _U32:
        raise fail(path, "an index below 2^32", value)
    return index


def refuse_inference(body: Obj) -> None:
    """Document / Image / InferenceObject need a server-side model, which a region store lacks."""
    if "model" in body.data and any(key in body.data for key in ("text", "image", "object")):
        raise Unsupported(f"{body.path or 'vector'}: inference objects (Document, Image, InferenceObject)")
