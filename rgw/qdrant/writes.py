"""Qdrant's write requests, validated against the collection's spec into plain typed data.

Every body is checked completely before anything is applied, so a malformed request changes
nothing (for `points/batch`: no operation runs unless all of them parse). `validate_write` is
what the gateway calls before journaling a write; the region store applies `parse_write`'s
result. Both therefore accept and refuse exactly the same writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rgw.qdrant.aliases import AliasAction, alias_changes
from rgw.qdrant.collection import CollectionSpec, VectorConfig, vector_config
from rgw.qdrant.errors import FormatError, Unsupported
from rgw.qdrant.fields import (
    Obj,
    Payload,
    PointId,
    anything,
    array,
    at,
    boolean,
    list_of,
    no_shard_key,
    one_of,
    payload_object,
    point_id,
    string,
    unsigned,
)
from rgw.qdrant.filters import Filter, parse_filter
from rgw.qdrant.paths import PayloadKey, payload_key
from rgw.qdrant.vectors import Vectors, check_vector_name, point_vectors

UPDATE_MODES = ("upsert", "insert_only", "update_only")
INDEX_TYPES = ("keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid")
TOKENIZERS = ("prefix", "whitespace", "word", "multilingual")
_FLAGS = ("on_disk", "enable_hnsw")
# The parameters each index type takes; all boolean except those in _INDEX_FIELD_READERS.
INDEX_PARAMS: dict[str, tuple[str, ...]] = {
    "keyword": ("is_tenant", "prefix", *_FLAGS),
    "integer": ("lookup", "range", "is_principal", *_FLAGS),
    "float": ("is_principal", *_FLAGS),
    "geo": _FLAGS,
    "bool": _FLAGS,
    "datetime": ("is_principal", *_FLAGS),
    "uuid": ("is_tenant", *_FLAGS),
    "text": ("tokenizer", "min_token_len", "max_token_len", "lowercase", "ascii_folding", "phrase_matching",
             *_FLAGS),
}
_INDEX_FIELD_READERS: dict[str, Callable[[Any, str], Any]] = {
    "tokenizer": one_of(*TOKENIZERS),
    "min_token_len": unsigned,
    "max_token_len": unsigned,
}


@dataclass(frozen=True)
class PointData:
    id: PointId
    vectors: Vectors
    payload: Payload | None


@dataclass(frozen=True)
class Upsert:
    points: tuple[PointData, ...]
    update_filter: Filter | None = None  # only points that match it are overwritten
    update_mode: str | None = None  # one of UPDATE_MODES


@dataclass(frozen=True)
class Ids:
    ids: tuple[PointId, ...]


@dataclass(frozen=True)
class FilterTarget:
    filter: Filter


Target = Ids | FilterTarget  # Qdrant's points selector


@dataclass(frozen=True)
class Delete:
    target: Target


@dataclass(frozen=True)
class SetPayload:
    target: Target
    payload: Payload
    key: PayloadKey | None  # set inside this key rather than at the top level
    overwrite: bool  # replace the whole payload (`PUT points/payload`) rather than merge into it


@dataclass(frozen=True)
class DeletePayload:
    target: Target
    keys: tuple[PayloadKey, ...]


@dataclass(frozen=True)
class ClearPayload:
    target: Target


@dataclass(frozen=True)
class PointVectors:
    id: PointId
    vectors: Vectors


@dataclass(frozen=True)
class UpdateVectors:
    points: tuple[PointVectors, ...]
    update_filter: Filter | None = None


@dataclass(frozen=True)
class DeleteVectors:
    target: Target
    names: tuple[str, ...]


PointsWrite = Upsert | Delete | SetPayload | DeletePayload | ClearPayload | UpdateVectors | DeleteVectors


@dataclass(frozen=True)
class Batch:
    operations: tuple[PointsWrite, ...]


@dataclass(frozen=True)
class FieldSchema:
    type: str  # one of INDEX_TYPES
    params: dict[str, Any] | None  # None: given as the bare type name


@dataclass(frozen=True)
class CreateIndex:
    field_name: PayloadKey
    schema: FieldSchema


# What parse_write returns: `create_collection` gives the spec; `delete_collection`,
# `delete_index` and `delete_vector_name` give None (their arguments travel in the URL, their
# bodies are ignored); `create_vector_name` gives the new vector's config (its name is in the URL);
# `update_aliases` gives the alias actions.
Write = CollectionSpec | PointsWrite | Batch | CreateIndex | VectorConfig | tuple[AliasAction, ...] | None


def validate_write(op: str, body: Any, spec: CollectionSpec | None) -> None:
    """Raise the QdrantError Qdrant would answer for this write, or nothing if it is valid.

    `op` names the endpoint (see `parse_write`); `spec` is the collection's, None only for
    `create_collection` and `delete_collection`.
    """
    parse_write(op, body, spec)


def parse_write(op: str, body: Any, spec: CollectionSpec | None) -> Write:
    """The typed form of a write body. `op` is one of: create_collection, delete_collection,
    upsert, delete, set_payload, overwrite_payload, delete_payload, clear_payload, update_vectors,
    delete_vectors, batch, create_index, delete_index, create_vector_name, delete_vector_name,
    update_aliases."""
    if op == "create_collection":
        return CollectionSpec.parse(body)
    if op in ("delete_collection", "delete_index", "delete_vector_name"):
        return None
    if op == "create_vector_name":
        return vector_config(body)
    if op == "update_aliases":
        return alias_changes(body)
    if op == "create_index":
        return create_index(body)
    if op not in POINTS_WRITES and op != "batch":
        raise ValueError(f"unknown write operation {op!r}")
    if spec is None:
        raise ValueError(f"{op} is checked against the collection's spec, and none was given")
    if op == "batch":
        return batch(body, spec)
    return POINTS_WRITES[op](body, spec, "")


# -- points -----------------------------------------------------------------------------------

def upsert(value: Any, spec: CollectionSpec, path: str = "") -> Upsert:
    """`PUT points` body: Qdrant's PointsList (`points`) or PointsBatch (`batch`)."""
    body = Obj.of(value, path)
    no_shard_key(body)
    if body.has("batch"):
        points = _batch_points(body.req("batch", Obj.of), spec)
    elif body.has("points"):
        points = [_point(item, at(body.where("points"), i), spec) for i, item in enumerate(body.req("points", array))]
    else:
        raise FormatError(path, "expected `points` or `batch`")
    mode = body.opt("update_mode", one_of(*UPDATE_MODES))
    return Upsert(tuple(points), parse_filter(body.data.get("update_filter"), body.where("update_filter")), mode)


def _point(value: Any, path: str, spec: CollectionSpec) -> PointData:
    """Qdrant's PointStruct."""
    body = Obj.of(value, path)
    pid, vector, payload = body.req("id", point_id), body.req("vector", anything), body.opt("payload", payload_object)
    return PointData(pid, point_vectors(vector, body.where("vector"), spec), payload)


def _batch_points(body: Obj, spec: CollectionSpec) -> list[PointData]:
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
    return [PointData(pid, point_vectors(vector, at(where, i), spec), payload)
            for i, (pid, vector, payload) in enumerate(zip(ids, vectors, payloads, strict=True))]


def _optional_payload(value: Any, path: str) -> Payload | None:
    return None if value is None else payload_object(value, path)


def _target(body: Obj) -> Target:
    """Qdrant's points selector: a list of ids under `points`, or a `filter`."""
    if body.has("points"):
        return Ids(tuple(body.req("points", list_of(point_id))))
    if body.has("filter"):
        selected = parse_filter(body.data["filter"], body.where("filter"))
        assert selected is not None
        return FilterTarget(selected)
    raise FormatError(body.path, "either `points` or `filter` must be provided")


def _body(value: Any, path: str) -> Obj:
    body = Obj.of(value, path)
    no_shard_key(body)
    return body


def delete(value: Any, spec: CollectionSpec, path: str = "") -> Delete:
    return Delete(_target(_body(value, path)))


def set_payload(value: Any, spec: CollectionSpec, path: str = "") -> SetPayload:
    return _set_payload(_body(value, path), overwrite=False)


def overwrite_payload(value: Any, spec: CollectionSpec, path: str = "") -> SetPayload:
    return _set_payload(_body(value, path), overwrite=True)


def _set_payload(body: Obj, overwrite: bool) -> SetPayload:
    payload = body.req("payload", payload_object)
    return SetPayload(_target(body), payload, body.opt("key", payload_key), overwrite)


def delete_payload(value: Any, spec: CollectionSpec, path: str = "") -> DeletePayload:
    body = _body(value, path)
    keys = body.req("keys", list_of(payload_key))
    return DeletePayload(_target(body), tuple(keys))


def clear_payload(value: Any, spec: CollectionSpec, path: str = "") -> ClearPayload:
    return ClearPayload(_target(_body(value, path)))


def update_vectors(value: Any, spec: CollectionSpec, path: str = "") -> UpdateVectors:
    """`PUT points/vectors` body: Qdrant's UpdateVectors."""
    body = _body(value, path)
    items = body.req("points", array)
    if not items:
        raise FormatError(body.where("points"), "at least one point is required")
    points = []
    for i, item in enumerate(items):
        entry = Obj.of(item, at(body.where("points"), i))
        pid = entry.req("id", point_id)
        points.append(PointVectors(pid, point_vectors(entry.req("vector", anything), entry.where("vector"), spec)))
    return UpdateVectors(tuple(points), parse_filter(body.data.get("update_filter"), body.where("update_filter")))


def delete_vectors(value: Any, spec: CollectionSpec, path: str = "") -> DeleteVectors:
    """`POST points/vectors/delete` body: Qdrant's DeleteVectors."""
    body = _body(value, path)
    names = body.req("vector", list_of(string))
    for name in names:
        check_vector_name(spec, name)
    return DeleteVectors(_target(body), tuple(names))


POINTS_WRITES: dict[str, Callable[[Any, CollectionSpec, str], PointsWrite]] = {
    "upsert": upsert,
    "delete": delete,
    "set_payload": set_payload,
    "overwrite_payload": overwrite_payload,
    "delete_payload": delete_payload,
    "clear_payload": clear_payload,
    "update_vectors": update_vectors,
    "delete_vectors": delete_vectors,
}


def batch(value: Any, spec: CollectionSpec) -> Batch:
    """`POST points/batch` body: `{"operations": [{"<kind>": body}, ...]}`."""
    operations = []
    for i, item in enumerate(Obj.of(value).req("operations", array)):
        entry = Obj.of(item, at("operations", i))
        kinds = [kind for kind in entry.data if kind in POINTS_WRITES]
        if len(kinds) != 1:
            raise FormatError(entry.path, "expected exactly one of " + ", ".join(f"`{k}`" for k in POINTS_WRITES))
        operations.append(POINTS_WRITES[kinds[0]](entry.data[kinds[0]], spec, entry.where(kinds[0])))
    return Batch(tuple(operations))


# -- payload indexes --------------------------------------------------------------------------

def create_index(value: Any) -> CreateIndex:
    """`PUT /collections/{name}/index` body: Qdrant's CreateFieldIndex."""
    body = Obj.of(value)
    return CreateIndex(body.req("field_name", payload_key), body.req("field_schema", _field_schema))


def _field_schema(value: Any, path: str) -> FieldSchema:
    """A schema type name (`"keyword"`) or a params object (`{"type": "text", ...}`)."""
    if isinstance(value, str):
        return FieldSchema(one_of(*INDEX_TYPES)(value, path), None)
    body = Obj.of(value, path)
    kind = body.req("type", one_of(*INDEX_TYPES))
    params = {}
    for key in body.data:
        if key == "type" or body.data[key] is None:
            continue
        if key not in INDEX_PARAMS[kind]:
            raise Unsupported(f"{body.where(key)} for {kind} indexes")
        params[key] = body.req(key, _INDEX_FIELD_READERS.get(key, boolean))
    return FieldSchema(kind, params)
