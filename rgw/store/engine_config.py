"""A collection's spec (rgw.qdrant.collection) -> the engine's `EdgeConfig`."""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rgw.qdrant.collection import CollectionSpec, DenseParams, SparseParams

DISTANCES = {
    "Cosine": qe.Distance.Cosine,
    "Euclid": qe.Distance.Euclid,
    "Dot": qe.Distance.Dot,
    "Manhattan": qe.Distance.Manhattan,
}
DATATYPES = {
    "float32": qe.VectorStorageDatatype.Float32,
    "float16": qe.VectorStorageDatatype.Float16,
    "uint8": qe.VectorStorageDatatype.Uint8,
}


def edge_config(spec: CollectionSpec) -> qe.EdgeConfig:
    hnsw = spec.hnsw
    vectors: qe.EdgeVectorParams | dict[str, qe.EdgeVectorParams] | None = None
    if spec.unnamed:
        vectors = _dense(spec.dense[""], hnsw)
    elif spec.dense:
        vectors = {name: _dense(params, hnsw) for name, params in spec.dense.items()}
    opt = spec.optimizers
    return qe.EdgeConfig(
        vectors=vectors,
        sparse_vectors={name: _sparse(params) for name, params in spec.sparse.items()} or None,
        on_disk_payload=spec.on_disk_payload,
        hnsw_config=_hnsw_config(hnsw),
        optimizers=qe.EdgeOptimizersConfig(
            deleted_threshold=opt["deleted_threshold"],
            vacuum_min_vector_number=opt["vacuum_min_vector_number"],
            default_segment_number=opt["default_segment_number"],
            max_segment_size=opt["max_segment_size"],
            # The store decides when to index (see optimize.py); once it does, every plain
            # segment should be indexed, so the engine's own size threshold is the minimum.
            indexing_threshold=1,
        ),
    )


def _dense(params: DenseParams, hnsw: dict[str, Any]) -> qe.EdgeVectorParams:
    return qe.EdgeVectorParams(
        size=params.size,
        distance=DISTANCES[params.distance],
        on_disk=params.on_disk,
        multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if params.multivector else None,
        datatype=DATATYPES[params.datatype] if params.datatype else None,
        hnsw_config=_hnsw_config({**hnsw, **params.hnsw}) if params.hnsw else None,
    )


def _sparse(params: SparseParams) -> qe.EdgeSparseVectorParams:
    datatype = params.index.get("datatype")
    return qe.EdgeSparseVectorParams(
        full_scan_threshold=params.index.get("full_scan_threshold"),
        on_disk=params.index.get("on_disk"),
        modifier=qe.Modifier.Idf if params.idf else None,
        datatype=DATATYPES[datatype] if datatype else None,
    )


def _hnsw_config(hnsw: dict[str, Any]) -> qe.HnswIndexConfig:
    return qe.HnswIndexConfig(
        m=hnsw["m"],
        ef_construct=hnsw["ef_construct"],
        full_scan_threshold=hnsw["full_scan_threshold"],
        max_indexing_threads=hnsw.get("max_indexing_threads", 0),
        on_disk=hnsw.get("on_disk"),
        payload_m=hnsw.get("payload_m"),
    )
