"""Collection specs: from a create body, and learned from the collection info of a collection the
gateway did not create (a real Qdrant server's or a region store's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from rgw.qdrant.collection import CollectionSpec, DenseParams, SparseParams
from rgw.qdrant.errors import FormatError, QdrantError, Unsupported, WrongInput
from rgw.qdrant.writes import validate_write

if TYPE_CHECKING:
    from tests.qdrant.conftest import Reference

# What a Qdrant 1.x server answers for `GET /collections/{name}`, with settings the region store
# would refuse to create (custom sharding, quantization, turbo4, strict mode).
QDRANT_INFO: dict[str, Any] = {
    "status": "green",
    "optimizer_status": "ok",
    "indexed_vectors_count": 0,
    "points_count": 0,
    "segments_count": 8,
    "config": {
        "params": {
            "vectors": {
                "image": {"size": 512, "distance": "Dot", "on_disk": True, "datatype": "float16",
                          "hnsw_config": {"m": 32}},
                "colbert": {"size": 128, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}},
                "tiny": {"size": 64, "distance": "Euclid", "datatype": "turbo4",
                         "quantization_config": {"binary": {"always_ram": True}}},
            },
            "shard_number": 3,
            "sharding_method": "custom",
            "replication_factor": 2,
            "write_consistency_factor": 1,
            "on_disk_payload": True,
            "sparse_vectors": {"text": {"modifier": "idf", "index": {"on_disk": True, "memory": "cold"}}},
        },
        "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0,
                        "on_disk": False, "inline_storage": False},
        "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
                             "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 20000,
                             "flush_interval_sec": 5, "max_optimization_threads": None},
        "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
        "quantization_config": {"scalar": {"type": "int8", "always_ram": True}},
        "strict_mode_config": {"enabled": False},
        "metadata": {"team": "search"},
    },
    "payload_schema": {},
}


def test_a_qdrant_servers_collection_info_gives_its_vectors() -> None:
    spec = CollectionSpec.from_info(QDRANT_INFO)
    assert spec.dense == {
        "image": DenseParams(512, "Dot", multivector=False, datatype="float16", on_disk=True, hnsw={"m": 32}),
        "colbert": DenseParams(128, "Cosine", multivector=True, datatype=None, on_disk=None, hnsw={}),
        "tiny": DenseParams(64, "Euclid", multivector=False, datatype="turbo4", on_disk=None, hnsw={}),
    }
    assert spec.sparse == {"text": SparseParams(idf=True, index={"on_disk": True})}
    assert not spec.unnamed
    assert spec.optimizers["indexing_threshold"] == 20000 and spec.metadata == {"team": "search"}


@pytest.mark.parametrize(("body", "error", "text"), [
    ({"points": [{"id": 1, "vector": {"image": [0.1] * 511}}]}, WrongInput,
     "Vector dimension error: expected dim: 512, got 511"),
    ({"points": [{"id": 1, "vector": {"colbert": [0.1] * 128}}]}, FormatError,
     r"points\[0\]\.vector\.colbert\[0\]: expected an array"),
    ({"points": [{"id": 1, "vector": {"audio": [0.1]}}]}, WrongInput, "Not existing vector name error: audio"),
    ({"points": [{"id": 1, "vector": {"text": {"indices": [1], "values": [0.5, 1]}}}]}, FormatError,
     "`indices` and `values` must have the same length"),
    ({"points": [{"id": 1, "vector": [0.1] * 512}]}, WrongInput, "Not existing vector name error: "),
])
def test_writes_are_checked_against_a_learned_spec(body: Any, error: type[QdrantError], text: str) -> None:
    spec = CollectionSpec.from_info(QDRANT_INFO)
    validate_write("upsert", {"points": [{"id": 1, "vector": {"image": [0.1] * 512, "colbert": [[0.2] * 128],
                                                               "text": {"indices": [3], "values": [1.0]}}}]}, spec)
    with pytest.raises(error, match=text):
        validate_write("upsert", body, spec)


@pytest.mark.parametrize("body", [
    {"vectors": {"size": 4, "distance": "Dot"}},
    {"vectors": {"a": {"size": 3, "distance": "Cosine", "on_disk": True, "hnsw_config": {"m": 8}},
                 "b": {"size": 2, "distance": "Manhattan", "multivector_config": {"comparator": "max_sim"},
                       "datatype": "float16"}},
     "sparse_vectors": {"s": {"modifier": "idf", "index": {"full_scan_threshold": 10}}},
     "optimizers_config": {"indexing_threshold": 0}, "metadata": {"owner": "me"}},
    {"sparse_vectors": {"only": {}}},
])
def test_a_region_stores_collection_info_gives_back_the_created_spec(reference: Reference, body: Any) -> None:
    name = f"spec-{abs(hash(str(body)))}"
    reference.call("PUT", f"/collections/{name}", body)
    learned = CollectionSpec.from_info(reference.call("GET", f"/collections/{name}"))
    created = CollectionSpec.parse(body)
    assert (learned.dense, learned.sparse, learned.unnamed) == (created.dense, created.sparse, created.unnamed)
    assert learned.config_json() == created.config_json()


def test_from_info_names_what_is_missing() -> None:
    with pytest.raises(FormatError, match="result: missing field `config`"):
        CollectionSpec.from_info({"status": "green"})
    with pytest.raises(FormatError, match=r"result\.config\.params\.vectors\.a: missing field `size`"):
        CollectionSpec.from_info({"config": {"params": {"vectors": {"a": {"distance": "Dot"}}}}})


@pytest.mark.parametrize(("body", "error", "text"), [
    ({"vectors": {"size": 2, "distance": "cosine"}}, FormatError,
     "vectors.distance: expected one of `Cosine`, `Euclid`, `Dot`, `Manhattan`"),
    ({"vectors": {"size": 0, "distance": "Dot"}}, FormatError, "vectors.size: expected an integer >= 1"),
    ({"vectors": {"size": 2, "distance": "Dot"}, "quantization_config": {"scalar": {"type": "int8"}}}, Unsupported,
     "collection quantization_config"),
    ({"vectors": {"v": {"size": 2, "distance": "Dot", "datatype": "turbo4"}}}, Unsupported,
     "vectors.v.datatype turbo4"),
    ({"vectors": {"size": 2, "distance": "Dot"}, "hnsw_config": {"inline_storage": True}}, Unsupported,
     "hnsw_config.inline_storage"),
    ({}, Unsupported, "collections without vectors"),
    ({"vectors": {"size": 2, "distance": "Dot"}, "sharding_method": "custom"}, Unsupported, "custom sharding"),
])
def test_create_bodies_the_store_cannot_serve_are_refused(body: Any, error: type[QdrantError], text: str) -> None:
    with pytest.raises(error) as raised:
        CollectionSpec.parse(body)
    assert text in raised.value.message
