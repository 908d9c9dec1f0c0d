"""Qdrant JSON update bodies -> qdrant_edge update operations.

Every body is translated completely before anything is applied, so a malformed request changes
nothing (for `points/batch`: no operation runs unless all of them parse).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import qdrant_edge as qe

from rgw.store.errors import FormatError, Unsupported, WrongInput
from rgw.store.fields import (
    Obj,
    PointId,
    anything,
    array,
    at,
    boolean,
    engine_object,
    list_of,
    no_shard_key,
    one_of,
    payload_object,
    point_id,
    string,
    unsigned,
)
from rgw.store.filters import parse_filter
from rgw.store.spec import CollectionSpec
from rgw.store.vectors import point_vectors

Target = list[PointId] | qe.Filter

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
_FLAGS = ("on_disk", "enable_hnsw")
# Per index type: the engine's params class and the Qdrant fields it takes (all boolean unless
# listed in _TEXT_FIELDS).
_INDEX_PARAMS: dict[str, tuple[type, tuple[str, ...]]] = {
    "keyword": (qe.KeywordIndexParams, ("is_tenant", "prefix", *_FLAGS)),
    "integer": (qe.IntegerIndexParams, ("lookup", "range", "is_principal", *_FLAGS)),
    "float": (qe.FloatIndexParams, ("is_principal", *_FLAGS)),
    "geo": (qe.GeoIndexParams, _FLAGS),
    "bool": (qe.BoolIndexParams, _FLAGS),
    "datetime": (qe.DatetimeIndexParams, ("is_principal", *_FLAGS)),
    "uuid": (qe.UuidIndexParams, ("is_tenant", *_FLAGS)),
    "text": (qe.TextIndexParams, ("tokenizer", "min_token_len", "max_token_len", "lowercase", "ascii_folding",
                                  "phrase_matching", *_FLAGS)),
}
_TEXT_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "tokenizer": lambda value, path: TOKENIZERS[one_of(*TOKENIZERS)(value, path)],
    "min_token_len": unsigned,
    "max_token_len": unsigned,
}


@dataclass(frozen=True)
class Write:
    """One engine update, and how many points' vectors it (re)writes: the store's measure of how
    much unindexed data has piled up."""

    op: qe.UpdateOperation
    points: int = 0


# -- points -----------------------------------------------------------------------------------

def upsert(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    """`PUT points` body: Qdrant's PointsList (`points`) or PointsBatch (`batch`)."""
    body = Obj.of(value, path)
    no_shard_key(body)
    if body.has("batch"):
        points = _batch_points(body.req("batch", Obj.of), spec)
    elif body.has("points"):
        points = [_point(item, at(body.where("points"), i), spec)
                  for i, item in enumerate(body.req("points", array))]
    else:
        raise FormatError(path, "expected `points` or `batch`")
    mode = body.opt("update_mode", one_of(*UPDATE_MODES))
    op = qe.UpdateOperation.upsert_points(
        points,
        condition=parse_filter(body.data.get("update_filter"), body.where("update_filter")),
        update_mode=None if mode is None else UPDATE_MODES[mode],
    )
    return Write(op, points=len(points))


def _point(value: Any, path: str, spec: CollectionSpec) -> qe.Point:
    """Qdrant's PointStruct."""
    body = Obj.of(value, path)
    return _make_point(body.req("id", point_id), body.req("vector", anything), body.opt("payload", payload_object),
                       body.where("vector"), spec)


def _batch_points(body: Obj, spec: CollectionSpec) -> list[qe.Point]:
    """Qdrant's Batch: parallel `ids`, `vectors` (a list, or per name a list) and `payloads`."""
    ids = body.req("ids", list_of(point_id))
    given, where = body.req("vectors", anything), body.where("vectors")
    if isinstance(given, list):
        vectors: list[Any] = given
    else:
        columns = {name: array(column, at(where, name)) for name, column in Obj.of(given, where).data.items()}
        if any(len(column) != len(ids) for column in columns.values()):
            raise FormatError(body.path, "number of ids and vectors must be equal")
        vectors = [{name: column[i] for name, column in columns.items()} for i in range(len(ids))]
    payloads = body.opt("payloads", list_of(_optional_payload)) or [None] * len(ids)
    if len(vectors) != len(ids) or len(payloads) != len(ids):
        raise FormatError(body.path, "number of ids, vectors and payloads must be equal")
    return [_make_point(pid, vector, payload, at(where, i), spec)
            for i, (pid, vector, payload) in enumerate(zip(ids, vectors, payloads, strict=True))]


def _optional_payload(value: Any, path: str) -> dict[str, Any] | None:
    return None if value is None else payload_object(value, path)


def _make_point(pid: PointId, vector: Any, payload: dict[str, Any] | None, vector_path: str,
                spec: CollectionSpec) -> qe.Point:
    checked = point_vectors(vector, vector_path, spec)
    return engine_object(vector_path, "vectors of numbers", lambda: qe.Point(pid, checked, payload))


def _target(body: Obj) -> Target:
    """Qdrant's points selector: a list of ids under `points`, or a `filter`."""
    if body.has("points"):
        return body.req("points", list_of(point_id))
    if body.has("filter"):
        selected = parse_filter(body.data["filter"], body.where("filter"))
        assert selected is not None
        return selected
    raise FormatError(body.path, "either `points` or `filter` must be provided")


def _on_target(target: Target, by_ids: Callable[..., qe.UpdateOperation],
               by_filter: Callable[..., qe.UpdateOperation], *args: Any) -> qe.UpdateOperation:
    if isinstance(target, qe.Filter):
        return by_filter(target, *args)
    return by_ids(target, *args)


def delete(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    body = Obj.of(value, path)
    no_shard_key(body)
    ops = qe.UpdateOperation
    return Write(_on_target(_target(body), ops.delete_points, ops.delete_points_by_filter))


def set_payload(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    return _payload_write(value, path, qe.UpdateOperation.set_payload, qe.UpdateOperation.set_payload_by_filter)


def overwrite_payload(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    ops = qe.UpdateOperation
    return _payload_write(value, path, ops.overwrite_payload, ops.overwrite_payload_by_filter)


def _payload_write(value: Any, path: str, by_ids: Callable[..., qe.UpdateOperation],
                   by_filter: Callable[..., qe.UpdateOperation]) -> Write:
    body = Obj.of(value, path)
    no_shard_key(body)
    payload = body.req("payload", payload_object)
    return Write(_on_target(_target(body), by_ids, by_filter, payload, body.opt("key", string)))


def delete_payload(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    body = Obj.of(value, path)
    no_shard_key(body)
    keys = body.req("keys", list_of(string))
    ops = qe.UpdateOperation
    return Write(_on_target(_target(body), ops.delete_payload, ops.delete_payload_by_filter, keys))


def clear_payload(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    body = Obj.of(value, path)
    no_shard_key(body)
    ops = qe.UpdateOperation
    return Write(_on_target(_target(body), ops.clear_payload, ops.clear_payload_by_filter))


def update_vectors(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    """`PUT points/vectors` body: Qdrant's UpdateVectors."""
    body = Obj.of(value, path)
    no_shard_key(body)
    items = body.req("points", array)
    if not items:
        raise FormatError(body.where("points"), "at least one point is required")
    points = []
    for i, item in enumerate(items):
        entry = Obj.of(item, at(body.where("points"), i))
        pid = entry.req("id", point_id)
        vector = point_vectors(entry.req("vector", anything), entry.where("vector"), spec)
        points.append(engine_object(entry.where("vector"), "vectors of numbers",
                                    lambda pid=pid, vector=vector: qe.PointVectors(pid, vector)))
    condition = parse_filter(body.data.get("update_filter"), body.where("update_filter"))
    return Write(qe.UpdateOperation.update_vectors(points, condition=condition), points=len(points))


def delete_vectors(value: Any, spec: CollectionSpec, path: str = "") -> Write:
    """`POST points/vectors/delete` body: Qdrant's DeleteVectors."""
    body = Obj.of(value, path)
    no_shard_key(body)
    names = body.req("vector", list_of(string))
    for name in names:
        if name not in spec.dense and name not in spec.sparse:
            raise WrongInput(f"Not existing vector name error: {name}")
    ops = qe.UpdateOperation
    return Write(_on_target(_target(body), ops.delete_vectors, ops.delete_vectors_by_filter, names))


BATCH_OPERATIONS: dict[str, Callable[[Any, CollectionSpec, str], Write]] = {
    "upsert": upsert,
    "delete": delete,
    "set_payload": set_payload,
    "overwrite_payload": overwrite_payload,
    "delete_payload": delete_payload,
    "clear_payload": clear_payload,
    "update_vectors": update_vectors,
    "delete_vectors": delete_vectors,
}


def batch(value: Any, spec: CollectionSpec) -> list[Write]:
    """`POST points/batch` body: `{"operations": [{"<kind>": body}, ...]}`."""
    writes = []
    for i, item in enumerate(Obj.of(value).req("operations", array)):
        entry = Obj.of(item, at("operations", i))
        kinds = [kind for kind in entry.data if kind in BATCH_OPERATIONS]
        if len(kinds) != 1:
            raise FormatError(entry.path, "expected exactly one of " + ", ".join(f"`{k}`" for k in BATCH_OPERATIONS))
        writes.append(BATCH_OPERATIONS[kinds[0]](entry.data[kinds[0]], spec, entry.where(kinds[0])))
    return writes


# -- payload indexes --------------------------------------------------------------------------

def create_field_index(value: Any) -> Write:
    """`PUT /collections/{name}/index` body: Qdrant's CreateFieldIndex."""
    body = Obj.of(value)
    name = body.req("field_name", string)
    return Write(qe.UpdateOperation.create_field_index(name, body.req("field_schema", _field_schema)))


def delete_field_index(field_name: str) -> Write:
    return Write(qe.UpdateOperation.delete_field_index(field_name))


def _field_schema(value: Any, path: str) -> Any:
    """A schema type name (`"keyword"`) or a params object (`{"type": "text", ...}`)."""
    if isinstance(value, str):
        return SCHEMA_TYPES[one_of(*SCHEMA_TYPES)(value, path)]
    body = Obj.of(value, path)
    kind = body.req("type", one_of(*SCHEMA_TYPES))
    params_class, allowed = _INDEX_PARAMS[kind]
    kwargs = {}
    for key in body.data:
        if key == "type" or body.data[key] is None:
            continue
        if key not in allowed:
            raise Unsupported(f"{body.where(key)} for {kind} indexes")
        kwargs[key] = body.req(key, _TEXT_FIELDS.get(key, boolean))
    return params_class(**kwargs)
