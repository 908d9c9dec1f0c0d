"""A collection's configuration: parsed from Qdrant's `CreateCollection` body, turned into the
engine's `EdgeConfig`, and rendered back as Qdrant's `CollectionConfig`.

The create body is what the registry persists; loading re-parses it, so there is one parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import qdrant_edge as qe

from rgw.store.errors import Unsupported
from rgw.store.fields import Obj, boolean, json_object, number, one_of, positive, unsigned

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
MAX_DIMENSION = 65536

# Qdrant's defaults, reported in collection info so clients see a complete config.
HNSW_DEFAULTS: dict[str, Any] = {
    "m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0, "on_disk": False,
}
OPTIMIZER_DEFAULTS: dict[str, Any] = {
    "deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
    "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 10000,
    "flush_interval_sec": 5, "max_optimization_threads": None,
}
WAL_DEFAULTS: dict[str, Any] = {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1}

def _optimization_threads(value: Any, path: str) -> int | None:
    """A count, or "auto" (reported as null, which is how Qdrant's CollectionInfo shows it)."""
    return None if value == "auto" else unsigned(value, path)


_HNSW_FIELDS = {
    "m": unsigned, "ef_construct": unsigned, "full_scan_threshold": unsigned,
    "max_indexing_threads": unsigned, "on_disk": boolean, "payload_m": unsigned,
}
_OPTIMIZER_FIELDS = {
    "deleted_threshold": number, "vacuum_min_vector_number": unsigned, "default_segment_number": unsigned,
    "max_segment_size": positive, "memmap_threshold": unsigned, "indexing_threshold": unsigned,
    "flush_interval_sec": unsigned, "max_optimization_threads": _optimization_threads,
    "prevent_unoptimized": boolean,
}
_WAL_FIELDS = {"wal_capacity_mb": positive, "wal_segments_ahead": unsigned, "wal_retain_closed": unsigned}
# Accepted for compatibility; a single-node store has one shard and one replica whatever they say.
_CLUSTER_FIELDS = ("shard_number", "replication_factor", "write_consistency_factor")
_UNSUPPORTED = ("quantization_config", "strict_mode_config", "init_from", "payload")


@dataclass(frozen=True)
class DenseVector:
    size: int
    distance: str
    multivector: bool
    datatype: str | None
    on_disk: bool | None
    hnsw: dict[str, Any]

    def params(self, hnsw: dict[str, Any]) -> qe.EdgeVectorParams:
        return qe.EdgeVectorParams(
            size=self.size,
            distance=DISTANCES[self.distance],
            on_disk=self.on_disk,
            multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if self.multivector else None,
            datatype=DATATYPES[self.datatype] if self.datatype else None,
            hnsw_config=_hnsw_config({**hnsw, **self.hnsw}) if self.hnsw else None,
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "distance": self.distance}
        if self.on_disk is not None:
            out["on_disk"] = self.on_disk
        if self.datatype:
            out["datatype"] = self.datatype
        if self.multivector:
            out["multivector_config"] = {"comparator": "max_sim"}
        if self.hnsw:
            out["hnsw_config"] = self.hnsw
        return out


@dataclass(frozen=True)
class SparseVector:
    idf: bool
    index: dict[str, Any]

    def params(self) -> qe.EdgeSparseVectorParams:
        datatype = self.index.get("datatype")
        return qe.EdgeSparseVectorParams(
            full_scan_threshold=self.index.get("full_scan_threshold"),
            on_disk=self.index.get("on_disk"),
            modifier=qe.Modifier.Idf if self.idf else None,
            datatype=DATATYPES[datatype] if datatype else None,
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"modifier": "idf" if self.idf else "none"}
        if self.index:
            out["index"] = self.index
        return out


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection holds and how: the parsed create body."""

    dense: dict[str, DenseVector]
    sparse: dict[str, SparseVector]
    unnamed: bool  # one dense vector given as `{"size", "distance"}`: stored under the name ""
    hnsw: dict[str, Any]
    optimizers: dict[str, Any]
    wal: dict[str, Any]
    on_disk_payload: bool
    metadata: dict[str, Any] | None
    source: dict[str, Any]

    @classmethod
    def parse(cls, value: Any) -> CollectionSpec:
        body = Obj.of(value)
        for key in _UNSUPPORTED:
            if body.has(key):
                raise Unsupported(f"collection {key}")
        if body.opt("sharding_method", one_of("auto", "custom")) == "custom":
            raise Unsupported("custom sharding")
        for key in _CLUSTER_FIELDS:
            body.opt(key, positive)
        hnsw = _diff(body, "hnsw_config", _HNSW_FIELDS)
        dense, unnamed = _dense_vectors(body)
        sparse = {
            name: _sparse_vector(Obj.of(params, body.where(f"sparse_vectors.{name}")))
            for name, params in (body.opt("sparse_vectors", json_object) or {}).items()
        }
        if not dense and not sparse:
            raise Unsupported("collections without vectors")
        return cls(
            dense=dense,
            sparse=sparse,
            unnamed=unnamed,
            hnsw={**HNSW_DEFAULTS, **hnsw},
            optimizers={**OPTIMIZER_DEFAULTS, **_diff(body, "optimizers_config", _OPTIMIZER_FIELDS)},
            wal={**WAL_DEFAULTS, **_diff(body, "wal_config", _WAL_FIELDS)},
            on_disk_payload=bool(body.opt("on_disk_payload", boolean, True)),
            metadata=body.opt("metadata", json_object),
            source=body.data,
        )

    @property
    def indexing_enabled(self) -> bool:
        """Qdrant's `indexing_threshold: 0` means "never build a vector index"."""
        return self.optimizers["indexing_threshold"] != 0

    def edge_config(self) -> qe.EdgeConfig:
        hnsw = self.hnsw
        vectors: qe.EdgeVectorParams | dict[str, qe.EdgeVectorParams] | None = None
        if self.unnamed:
            vectors = self.dense[""].params(hnsw)
        elif self.dense:
            vectors = {name: vector.params(hnsw) for name, vector in self.dense.items()}
        opt = self.optimizers
        return qe.EdgeConfig(
            vectors=vectors,
            sparse_vectors={name: vector.params() for name, vector in self.sparse.items()} or None,
            on_disk_payload=self.on_disk_payload,
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

    def config_json(self) -> dict[str, Any]:
        """Qdrant's `CollectionConfig` for this collection."""
        if self.unnamed:
            vectors: dict[str, Any] = self.dense[""].as_json()
        else:
            vectors = {name: vector.as_json() for name, vector in self.dense.items()}
        params: dict[str, Any] = {
            "vectors": vectors,
            "shard_number": 1,
            "replication_factor": 1,
            "write_consistency_factor": 1,
            "on_disk_payload": self.on_disk_payload,
        }
        if self.sparse:
            params["sparse_vectors"] = {name: vector.as_json() for name, vector in self.sparse.items()}
        config: dict[str, Any] = {
            "params": params,
            "hnsw_config": self.hnsw,
            "optimizer_config": self.optimizers,
            "wal_config": self.wal,
            "quantization_config": None,
        }
        if self.metadata is not None:
            config["metadata"] = self.metadata
        return config


def _diff(body: Obj, key: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A Qdrant `*ConfigDiff`: only the fields given, each validated."""
    diff = body.sub(key)
    if diff is None:
        return {}
    values = {}
    for name, value in diff.data.items():
        if value is None:
            continue
        if name not in fields:
            raise Unsupported(f"{diff.where(name)}")
        values[name] = fields[name](value, diff.where(name))
    return values


def _hnsw_config(hnsw: dict[str, Any]) -> qe.HnswIndexConfig:
    return qe.HnswIndexConfig(
        m=hnsw["m"],
        ef_construct=hnsw["ef_construct"],
        full_scan_threshold=hnsw["full_scan_threshold"],
        max_indexing_threads=hnsw.get("max_indexing_threads", 0),
        on_disk=hnsw.get("on_disk"),
        payload_m=hnsw.get("payload_m"),
    )


def _dense_vectors(body: Obj) -> tuple[dict[str, DenseVector], bool]:
    vectors = body.sub("vectors")
    if vectors is None:
        return {}, False
    if "size" in vectors.data or "distance" in vectors.data:
        return {"": _dense_vector(vectors)}, True
    return {name: _dense_vector(Obj.of(params, vectors.where(name))) for name, params in vectors.data.items()}, False


def _dense_vector(body: Obj) -> DenseVector:
    for key in ("quantization_config", "memory"):
        if body.has(key):
            raise Unsupported(body.where(key))
    size = body.req("size", positive)
    if size > MAX_DIMENSION:
        raise Unsupported(f"{body.where('size')} above {MAX_DIMENSION}")
    datatype = body.opt("datatype", one_of("float32", "float16", "uint8", "turbo4"))
    if datatype == "turbo4":
        raise Unsupported(f"{body.where('datatype')} turbo4")
    multivector = body.sub("multivector_config")
    if multivector is not None:
        multivector.req("comparator", one_of("max_sim"))
    return DenseVector(
        size=size,
        distance=body.req("distance", one_of(*DISTANCES)),
        multivector=multivector is not None,
        datatype=datatype,
        on_disk=body.opt("on_disk", boolean),
        hnsw=_diff(body, "hnsw_config", _HNSW_FIELDS),
    )


def _sparse_vector(body: Obj) -> SparseVector:
    index = {}
    if (spec := body.sub("index")) is not None:
        index = {
            key: value
            for key, value in (
                ("full_scan_threshold", spec.opt("full_scan_threshold", unsigned)),
                ("on_disk", spec.opt("on_disk", boolean)),
                ("datatype", spec.opt("datatype", one_of("float32", "float16", "uint8"))),
            )
            if value is not None
        }
    return SparseVector(idf=body.opt("modifier", one_of("none", "idf")) == "idf", index=index)
