"""Service endpoints and collection management, through the real qdrant-client where it has a call."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.qdrant_remote import QdrantRemote

from rgw import QDRANT_API_VERSION

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore


def test_root_reports_qdrant_version_and_region(store: RunningStore) -> None:
    status, body = store.http("GET", "/")
    assert status == 200
    assert body == {"title": "qdrant - vector search engine", "version": QDRANT_API_VERSION, "commit": None,
                    "region": "primary"}


def test_client_version_check_passes_without_warning(store: RunningStore) -> None:
    # The client runs this check in a daemon thread; run it inline so a warning cannot be missed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        QdrantRemote._check_compatibility(store.url, {}, None, 5)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize(("path", "text"), [("/healthz", "healthz check passed"),
                                            ("/livez", "livez check passed"),
                                            ("/readyz", "all shards are ready")])
def test_health_endpoints_answer_plain_text(store: RunningStore, path: str, text: str) -> None:
    assert store.http("GET", path) == (200, text)


@pytest.mark.parametrize("distance", list(m.Distance))
def test_create_single_vector_collection_for_each_distance(client: QdrantClient, name: str,
                                                           distance: m.Distance) -> None:
    assert client.create_collection(name, vectors_config=m.VectorParams(size=8, distance=distance))
    info = client.get_collection(name)
    assert info.status == m.CollectionStatus.GREEN
    assert info.points_count == 0
    assert info.config.params.vectors == m.VectorParams(size=8, distance=distance)
    assert client.delete_collection(name)


def test_create_named_and_sparse_collection_round_trips_config(client: QdrantClient, name: str) -> None:
    client.create_collection(
        name,
        vectors_config={"text": m.VectorParams(size=4, distance=m.Distance.DOT),
                        "image": m.VectorParams(size=3, distance=m.Distance.EUCLID)},
        sparse_vectors_config={"bm25": m.SparseVectorParams(modifier=m.Modifier.IDF)},
        hnsw_config=m.HnswConfigDiff(m=8, ef_construct=64),
        optimizers_config=m.OptimizersConfigDiff(indexing_threshold=20000),
        metadata={"owner": "search"},
    )
    info = client.get_collection(name)
    assert info.config.params.vectors == {"text": m.VectorParams(size=4, distance=m.Distance.DOT),
                                          "image": m.VectorParams(size=3, distance=m.Distance.EUCLID)}
    assert info.config.params.sparse_vectors["bm25"].modifier == m.Modifier.IDF
    assert (info.config.hnsw_config.m, info.config.hnsw_config.ef_construct) == (8, 64)
    assert info.config.optimizer_config.indexing_threshold == 20000
    assert info.config.metadata == {"owner": "search"}


def test_sparse_modifier_shown_only_when_set(store: RunningStore, name: str) -> None:
    body = {"vectors": {}, "sparse_vectors": {"plain": {}, "none": {"modifier": "none"}, "idf": {"modifier": "idf"}}}
    assert store.http("PUT", f"/collections/{name}", body)[0] == 200
    status, answer = store.http("GET", f"/collections/{name}")
    assert status == 200
    assert answer["result"]["config"]["params"]["sparse_vectors"] == {
        "plain": {}, "none": {"modifier": "none"}, "idf": {"modifier": "idf"}}


def test_exists_list_and_delete(client: QdrantClient, name: str) -> None:
    assert not client.collection_exists(name)
    client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=m.Distance.COSINE))
    assert client.collection_exists(name)
    assert name in {c.name for c in client.get_collections().collections}
    assert client.delete_collection(name) is True
    assert not client.collection_exists(name)
    assert name not in {c.name for c in client.get_collections().collections}
    assert client.delete_collection(name) is False  # Qdrant answers false, not 404


def test_create_existing_collection_is_400_with_qdrant_text(store: RunningStore, client: QdrantClient,
                                                            name: str) -> None:
    body = {"vectors": {"size": 2, "distance": "Cosine"}}
    assert store.http("PUT", f"/collections/{name}", body)[0] == 200
    status, answer = store.http("PUT", f"/collections/{name}", body)
    assert status == 400
    assert answer["status"]["error"] == f"Wrong input: Collection `{name}` already exists!"


def test_missing_collection_is_404_with_qdrant_text(store: RunningStore) -> None:
    for method, path in [("GET", "/collections/nope"), ("POST", "/collections/nope/points/count"),
                         ("PUT", "/collections/nope/points")]:
        status, answer = store.http(method, path, {})
        assert status == 404
        assert answer["status"]["error"] == "Not found: Collection `nope` doesn't exist!"


def test_payload_index_create_and_delete(client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.upsert(name, [m.PointStruct(id=1, vector=[1, 0], payload={"k": "a", "n": 1, "t": "hello world"})])
    client.create_payload_index(name, "k", m.PayloadSchemaType.KEYWORD)
    client.create_payload_index(name, "n", m.PayloadSchemaType.INTEGER)
    client.create_payload_index(name, "t", m.TextIndexParams(type=m.TextIndexType.TEXT,
                                                             tokenizer=m.TokenizerType.WORD, lowercase=True))
    schema = client.get_collection(name).payload_schema
    assert {field: info.data_type for field, info in schema.items()} == {
        "k": m.PayloadSchemaType.KEYWORD, "n": m.PayloadSchemaType.INTEGER, "t": m.PayloadSchemaType.TEXT}
    assert schema["k"].points == 1
    client.delete_payload_index(name, "k")
    assert set(client.get_collection(name).payload_schema) == {"n", "t"}


@pytest.mark.parametrize(("method", "path", "feature"), [
    ("POST", "/snapshots", "full storage snapshots"),
    ("PATCH", "/collections/x", "collection update"),
])
def test_unsupported_features_answer_501_naming_them(store: RunningStore, method: str, path: str,
                                                     feature: str) -> None:
    status, answer = store.http(method, path, {})
    assert status == 501
    assert answer["status"]["error"] == f"Not implemented by region store: {feature}"


def test_unknown_path_is_404_in_error_shape(store: RunningStore) -> None:
    status, answer = store.http("GET", "/no/such/thing")
    assert status == 404
    assert "error" in answer["status"] and isinstance(answer["time"], float)
