"""Typed writes (rgw.qdrant.writes) -> qdrant_edge update operations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import qdrant_edge as qe

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.writes import (
    Batch,
    ClearPayload,
    CreateIndex,
    Delete,
    DeletePayload,
    DeleteVectors,
    FieldSchema,
    FilterTarget,
    PointsWrite,
    SetPayload,
    Target,
    UpdateVectors,
    Upsert,
)
from rgw.store.engine_config import DATATYPES, DISTANCES
from rgw.store.filters import engine_filter
from rgw.store.vectors import engine_vectors

UPDATE_MODES = {
    "upsert": qe.UpdateMode.Upsert,
    "insert_only": qe.UpdateMode.InsertOnly,
    "update_only": qe.UpdateMode.UpdateOnly,
}
SCHEMA_TYPES = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "geo": qe.PayloadSchemaType.Geo,
    "text": qe.PayloadSchemaType.Text,
    "bool": qe.PayloadSchemaType.Bool,
    "datetime": qe.PayloadSchemaType.Datetime,
    "uuid": qe.PayloadSchemaType.Uuid,
}
TOKENIZERS = {
    "prefix": qe.TokenizerType.Prefix,
    "whitespace": qe.TokenizerType.Whitespace,
    "word": qe.TokenizerType.Word,
    "multilingual": qe.TokenizerType.Multilingual,
}
_INDEX_PARAMS: dict[str, type] = {
    "keyword": qe.KeywordIndexParams,
    "integer": qe.IntegerIndexParams,
    "float": qe.FloatIndexParams,
    "geo": qe.GeoIndexParams,
    "bool": qe.BoolIndexParams,
    "datetime": qe.DatetimeIndexParams,
    "uuid": qe.UuidIndexParams,
    "text": qe.TextIndexParams,
}

Ops = qe.UpdateOperation


@dataclass(frozen=True)
class Write:
    """One engine update, and how many points' vectors it (re)writes: the store's measure of how
    much unindexed data has piled up."""

    op: qe.UpdateOperation
    points: int = 0


def engine_write(write: PointsWrite) -> Write:
    match write:
        case Upsert(points=points, update_filter=condition, update_mode=mode):
            engine_points = [qe.Point(p.id, engine_vectors(p.vectors), p.payload) for p in points]
            return Write(Ops.upsert_points(engine_points, condition=_optional_filter(condition),
                                           update_mode=None if mode is None else UPDATE_MODES[mode]),
                         points=len(points))
        case UpdateVectors(points=points, update_filter=condition):
            engine_points = [qe.PointVectors(p.id, engine_vectors(p.vectors)) for p in points]
            return Write(Ops.update_vectors(engine_points, condition=_optional_filter(condition)), points=len(points))
        case Delete(target=target):
            return Write(_on_target(target, Ops.delete_points, Ops.delete_points_by_filter))
        case SetPayload(target=target, payload=payload, key=key, overwrite=overwrite):
            by_ids, by_filter = ((Ops.overwrite_payload, Ops.overwrite_payload_by_filter) if overwrite
                                 else (Ops.set_payload, Ops.set_payload_by_filter))
            return Write(_on_target(target, by_ids, by_filter, payload, None if key is None else key.text))
        case DeletePayload(target=target, keys=keys):
            return Write(_on_target(target, Ops.delete_payload, Ops.delete_payload_by_filter, [k.text for k in keys]))
        case ClearPayload(target=target):
            return Write(_on_target(target, Ops.clear_payload, Ops.clear_payload_by_filter))
        case DeleteVectors(target=target, names=names):
            return Write(_on_target(target, Ops.delete_vectors, Ops.delete_vectors_by_filter, list(names)))
    raise TypeError(f"not a points write: {write!r}")


def engine_batch(batch: Batch) -> list[Write]:
    return [engine_write(operation) for operation in batch.operations]


def _optional_filter(condition: Any) -> qe.Filter | None:
    return None if condition is None else engine_filter(condition)


def _on_target(target: Target, by_ids: Callable[..., qe.UpdateOperation],
               by_filter: Callable[..., qe.UpdateOperation], *args: Any) -> qe.UpdateOperation:
    if isinstance(target, FilterTarget):
        return by_filter(engine_filter(target.filter), *args)
    return by_ids(list(target.ids), *args)


# -- payload indexes --------------------------------------------------------------------------

def create_field_index(index: CreateIndex) -> Write:
    return Write(Ops.create_field_index(index.field_name.text, _field_schema(index.schema)))


def delete_field_index(field_name: str) -> Write:
    return Write(Ops.delete_field_index(field_name))


def _field_schema(schema: FieldSchema) -> Any:
    if schema.params is None:
        return SCHEMA_TYPES[schema.type]
    params = dict(schema.params)
    if "tokenizer" in params:
        params["tokenizer"] = TOKENIZERS[params["tokenizer"]]
    return _INDEX_PARAMS[schema.type](**params)


# -- vector names ------------------------------------------------------------------------------

def vector_write(name: str, spec: CollectionSpec) -> Write:
    """The engine operation that makes vector `name` what `spec` says: created as the spec
    describes it, or deleted when the spec has no such vector. Both are idempotent."""
    if name in spec.dense:
        dense = spec.dense[name]
        return Write(Ops.create_dense_vector(
            name, dense.size, DISTANCES[dense.distance],
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if dense.multivector else None,
            datatype=DATATYPES[dense.datatype] if dense.datatype else None))
    if name in spec.sparse:
        sparse = spec.sparse[name]
        datatype = sparse.index.get("datatype")
        return Write(Ops.create_sparse_vector(name, modifier=qe.Modifier.Idf if sparse.idf else None,
                                              datatype=DATATYPES[datatype] if datatype else None))
    return Write(Ops.delete_vector_name(name))
