"""Write validation: what the gateway checks before journaling, and the typed data it yields."""

from __future__ import annotations

from typing import Any

import pytest

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import FormatError, QdrantError, Unsupported, WrongInput
from rgw.qdrant.filters import FieldCondition
from rgw.qdrant.vectors import SparseVector
from rgw.qdrant.writes import (
    Batch,
    ClearPayload,
    CreateIndex,
    Delete,
    DeletePayload,
    DeleteVectors,
    FieldSchema,
    FilterTarget,
    Ids,
    PointData,
    SetPayload,
    UpdateVectors,
    Upsert,
    parse_write,
    validate_write,
)
from tests.fallbacks.helpers import journaled
from tests.qdrant.conftest import Reference

SPEC_BODY = {"vectors": {"dense": {"size": 3, "distance": "Cosine"},
                          "multi": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}},
             "sparse_vectors": {"sparse": {}}}
SPEC = CollectionSpec.parse(SPEC_BODY)
UNNAMED = CollectionSpec.parse({"vectors": {"size": 384, "distance": "Cosine"}})
UUID = "936da01f-9abd-4d9d-80c7-02af85c822a8"
EXISTING = {"points": [{"id": pid, "vector": {"dense": [1, 0, 0], "multi": [[1, 2]],
                                             "sparse": {"indices": [1], "values": [1]}}, "payload": {"a": 1}}
                      for pid in (1, 2, UUID)]}
BY_FILTER = {"must": [{"key": "a", "match": {"value": 1}}]}

VALID: list[tuple[str, Any]] = [
    ("upsert", {"points": [
        {"id": 1, "vector": {"dense": [1, 0, 0.5]}, "payload": {"a": 1}},
        {"id": UUID, "vector": {"multi": [[1, 2], [3, 4]], "sparse": {"indices": [1], "values": [2]}}},
    ]}),
    ("upsert", {"batch": {"ids": [1, 2], "vectors": {"dense": [[1, 0, 0], [0, 1, 0]]}, "payloads": [{"a": 1}, None]}}),
    ("upsert", {"points": [{"id": 1, "vector": {}}], "update_filter": BY_FILTER, "update_mode": "insert_only"}),
    ("delete", {"points": [1, UUID]}),
    ("delete", {"filter": BY_FILTER}),
    ("set_payload", {"payload": {"b": 2}, "points": [1], "key": "nested.inner"}),
    ("overwrite_payload", {"payload": {"b": 2}, "filter": BY_FILTER}),
    ("delete_payload", {"keys": ["a", "b[0].c"], "points": [1]}),
    ("clear_payload", {"points": [1]}),
    ("update_vectors", {"points": [{"id": 1, "vector": {"dense": [0, 0, 1]}}]}),
    ("delete_vectors", {"points": [1], "vector": ["dense", "sparse"]}),
    ("batch", {"operations": [{"upsert": {"points": [{"id": 3, "vector": {"dense": [1, 1, 1]}}]}},
                              {"delete": {"points": [3]}}]}),
    ("create_index", {"field_name": "a", "field_schema": "keyword"}),
    ("create_index", {"field_name": "t", "field_schema": {"type": "text", "tokenizer": "word", "lowercase": True}}),
    ("delete_index", None),
]


@pytest.mark.parametrize(("case", "op", "body"), [(i, op, body) for i, (op, body) in enumerate(VALID)],
                         ids=[op for op, _ in VALID])
def test_what_the_store_accepts_validates(reference: Reference, case: int, op: str, body: Any) -> None:
    """Each write is applied by a real region store (so it is valid Qdrant) and passes the gateway's check."""
    collection = f"valid_{case}"
    reference.call("PUT", f"/collections/{collection}", SPEC_BODY)
    reference.call("PUT", f"/collections/{collection}/points?wait=true", EXISTING)  # the points the writes name
    write = journaled(collection, op, body, field="a")  # the request the gateway journals for it
    reference.call(write.method, f"{write.path}?wait=true", body)  # fails on 4xx
    validate_write(op, body, SPEC)


def test_collection_writes_need_no_spec() -> None:
    validate_write("create_collection", {"vectors": {"size": 4, "distance": "Dot"}}, None)
    validate_write("delete_collection", None, None)
    assert parse_write("create_collection", {"vectors": {"size": 4, "distance": "Dot"}}, None) == \
        CollectionSpec.parse({"vectors": {"size": 4, "distance": "Dot"}})


INVALID: list[tuple[str, Any, CollectionSpec, type[QdrantError], str]] = [
    ("upsert", {"points": [{"id": 1, "vector": [0.1, 0.2, 0.3]}]}, UNNAMED, WrongInput,
     "Wrong input: Vector dimension error: expected dim: 384, got 3"),
    ("upsert", {"points": [{"id": 1, "vector": {"dense": [1, 0]}}]}, SPEC, WrongInput,
     "Wrong input: Vector dimension error: expected dim: 3, got 2"),
    ("upsert", {"points": [{"id": 1, "vector": {"nope": [1, 0, 0]}}]}, SPEC, WrongInput,
     "Wrong input: Not existing vector name error: nope"),
    ("upsert", {"points": [{"id": -5, "vector": {}}]}, SPEC, FormatError,
     "points[0].id: value -5 is not a valid point ID, valid values are either an unsigned integer or a UUID"),
    ("upsert", {"points": [{"id": "not-a-uuid", "vector": {}}]}, SPEC, FormatError, "points[0].id"),
    ("upsert", {"points": [{"id": 1.5, "vector": {}}]}, SPEC, FormatError, "points[0].id"),
    ("upsert", {"points": [{"id": 1, "vector": {"dense": [1, "x", 0]}}]}, SPEC, FormatError,
     "points[0].vector.dense: expected a vector of numbers"),
    ("upsert", {"points": [{"id": 1, "vector": {"multi": [[1, 2], [3, None]]}}]}, SPEC, FormatError,
     "points[0].vector.multi[1]: expected a vector of numbers"),
    ("upsert", {"points": [{"id": 1, "vector": {"multi": [1, 2]}}]}, SPEC, FormatError,
     "points[0].vector.multi[0]: expected an array"),
    ("upsert", {"points": [{"id": 1, "vector": {"dense": [[1, 0, 0]]}}]}, SPEC, WrongInput,
     "Conversion between multi and regular vectors failed"),
    ("upsert", {"points": [{"id": 1, "vector": {"sparse": {"indices": [1, 1], "values": [1, 2]}}}]}, SPEC,
     FormatError, "points[0].vector.sparse.indices: indices must be unique"),
    ("upsert", {"points": [{"id": 1, "vector": {"sparse": [1, 2]}}]}, SPEC, WrongInput,
     "Conversion between sparse and regular vectors failed"),
    ("upsert", {"points": [{"id": 1, "vector": {"dense": {"text": "hi", "model": "bm25"}}}]}, SPEC, Unsupported,
     "inference objects"),
    ("upsert", {"points": [{"id": 1, "vector": {"text": "hi", "model": "bm25"}}]}, SPEC, Unsupported,
     "inference objects"),
    ("upsert", {"points": [], "shard_key": "eu"}, SPEC, Unsupported, "shard keys"),
    ("upsert", {"points": [{"id": 1, "vector": {}, "payload": [1]}]}, SPEC, FormatError,
     "points[0].payload: expected an object"),
    ("upsert", {"points": [], "update_mode": "sometimes"}, SPEC, FormatError, "update_mode: expected one of"),
    ("upsert", {"batch": {"ids": [1, 2], "vectors": {"dense": [[1, 0, 0]]}}}, SPEC, FormatError,
     "batch: number of ids and vectors must be equal"),
    ("delete", {"filter": {"must": [{"key": "a", "match": {"value": 1.5}}]}}, SPEC, FormatError,
     "filter.must[0].match.value: expected an integer, got 1.5"),
    ("delete", {}, SPEC, FormatError, "either `points` or `filter` must be provided"),
    ("set_payload", {"payload": {"b": 1}, "points": [1], "key": "a b"}, SPEC, FormatError,
     "key: expected a payload key"),
    ("delete_payload", {"keys": ["ok", "not ok"], "points": [1]}, SPEC, FormatError, "keys[1]: expected a payload key"),
    ("update_vectors", {"points": []}, SPEC, FormatError, "points: at least one point is required"),
    ("update_vectors", {"points": [{"id": 1, "vector": {"dense": [1]}}]}, SPEC, WrongInput,
     "Vector dimension error: expected dim: 3, got 1"),
    ("delete_vectors", {"points": [1], "vector": ["ghost"]}, SPEC, WrongInput, "Not existing vector name error: ghost"),
    ("batch", {"operations": [{"upsert": {"points": []}}, {"explode": {}}]}, SPEC, FormatError,
     "operations[1]: expected exactly one of"),
    ("batch", {"operations": [{"delete": {"points": [1]}}, {"upsert": {"points": [{"id": 1, "vector": {"x": []}}]}}]},
     SPEC, WrongInput, "Not existing vector name error: x"),
    ("create_index", {"field_name": "a", "field_schema": "vector"}, SPEC, FormatError, "field_schema: expected one of"),
    ("create_index", {"field_name": "a", "field_schema": {"type": "keyword", "lowercase": True}}, SPEC, Unsupported,
     "field_schema.lowercase for keyword indexes"),
    ("create_collection", {"vectors": {"size": 2, "distance": "cosine"}}, SPEC, FormatError,
     "vectors.distance: expected one of `Cosine`, `Euclid`, `Dot`, `Manhattan`"),
]


@pytest.mark.parametrize(("op", "body", "spec", "error", "text"), INVALID)
def test_invalid_writes_are_refused_naming_the_problem(op: str, body: Any, spec: CollectionSpec,
                                                       error: type[QdrantError], text: str) -> None:
    with pytest.raises(error) as raised:
        validate_write(op, body, spec)
    assert text in raised.value.message


def test_upserts_keep_the_parsed_vectors() -> None:
    vector = [0.5] * 384
    body = {"points": [{"id": 7, "vector": vector, "payload": {"text": "hello"}}]}
    written = parse_write("upsert", body, UNNAMED)
    assert written == Upsert((PointData(7, vector, {"text": "hello"}),))
    assert isinstance(written, Upsert) and written.points[0].vectors is vector  # no copy


def test_writes_parse_into_typed_data() -> None:
    sparse = {"sparse": {"indices": [4], "values": [1]}}
    assert parse_write("upsert", {"points": [{"id": UUID.upper(), "vector": sparse}]}, SPEC) == \
        Upsert((PointData(UUID, {"sparse": SparseVector([4], [1.0])}, None),))
    deleted = parse_write("delete", {"filter": BY_FILTER}, SPEC)
    assert isinstance(deleted, Delete) and isinstance(deleted.target, FilterTarget)
    assert isinstance((deleted.target.filter.must or ())[0], FieldCondition)
    overwritten = parse_write("overwrite_payload", {"payload": {"b": 2}, "points": [1], "key": "x"}, SPEC)
    assert isinstance(overwritten, SetPayload) and overwritten.overwrite and overwritten.key is not None
    assert overwritten.target == Ids((1,)) and overwritten.key.text == "x"
    removed = parse_write("delete_payload", {"keys": ["a"], "points": [1]}, SPEC)
    assert isinstance(removed, DeletePayload) and [k.text for k in removed.keys] == ["a"]
    assert parse_write("clear_payload", {"points": [2]}, SPEC) == ClearPayload(Ids((2,)))
    updated = parse_write("update_vectors", {"points": [{"id": 1, "vector": {"dense": [1, 2, 3]}}]}, SPEC)
    assert isinstance(updated, UpdateVectors) and updated.points[0].vectors == {"dense": [1, 2, 3]}
    assert parse_write("delete_vectors", {"points": [1], "vector": ["dense"]}, SPEC) == \
        DeleteVectors(Ids((1,)), ("dense",))
    batch = parse_write("batch", {"operations": [{"clear_payload": {"points": [1]}}]}, SPEC)
    assert batch == Batch((ClearPayload(Ids((1,))),))
    index = parse_write("create_index", {"field_name": "t", "field_schema": {"type": "integer", "range": True}}, None)
    assert isinstance(index, CreateIndex) and index.schema == FieldSchema("integer", {"range": True})
    assert parse_write("delete_index", None, SPEC) is None


def test_unknown_operations_and_missing_specs_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown write operation"):
        validate_write("upsert_all", {}, SPEC)
    with pytest.raises(ValueError, match="collection's spec"):
        validate_write("upsert", {"points": []}, None)
