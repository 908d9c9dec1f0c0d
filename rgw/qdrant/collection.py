"""A collection's configuration: parsed from Qdrant's `CreateCollection` body or learned from a
`GET /collections/{name}` answer, and rendered back as Qdrant's `CollectionConfig`.

Writes are checked against it (vector names, dimensions, kinds). The region store persists the
create body (`source`) and re-parses it on load, so there is one parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rgw.qdrant.errors import FormatError, Unsupported, WrongInput
from rgw.qdrant.fields import Obj, boolean, json_object, number, one_of, positive, string, unsigned

DISTANCES = ("Cosine", "Euclid", "Dot", "Manhattan")
DATATYPES = ("float32", "float16", "uint8")
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
class DenseParams:
    size: int
    distance: str
    multivector: bool
    datatype: str | None
    on_disk: bool | None
    hnsw: dict[str, Any]

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
class SparseParams:
    idf: bool
    index: dict[str, Any]
    modifier_given: bool = field(default=False, compare=False)  # the body named one, even `none`

    def as_json(self) -> dict[str, Any]:
        # As Qdrant: a modifier nobody set is left out rather than shown as "none".
        out: dict[str, Any] = {}
        if self.idf or self.modifier_given:
            out["modifier"] = "idf" if self.idf else "none"
        if self.index:
            out["index"] = self.index
        return out


@dataclass(frozen=True)
class VectorConfig:
    """A vector added to an existing collection (Qdrant's VectorNameConfig), as the params its
    create body would have held."""

    sparse: bool
    params: dict[str, Any]


def vector_config(value: Any) -> VectorConfig:
    """`PUT /collections/{name}/vectors/{vector}` body: `{"dense": {...}}` or `{"sparse": {...}}`."""
    body = Obj.of(value)
    if body.has("dense"):
        dense = body.req("dense", Obj.of).only("size", "distance", "multivector_config", "datatype")
        _dense_params(dense)
        return VectorConfig(False, {key: item for key, item in dense.data.items() if item is not None})
    if body.has("sparse"):
        sparse = body.req("sparse", Obj.of).only("modifier", "datatype")
        params: dict[str, Any] = {}
        if (modifier := sparse.opt("modifier", one_of("none", "idf"))) is not None:
            params["modifier"] = modifier
        if (datatype := sparse.opt("datatype", one_of(*DATATYPES))) is not None:
            params["index"] = {"datatype": datatype}
        return VectorConfig(True, params)
    raise FormatError("", "expected `dense` or `sparse`")


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection holds and how."""

    dense: dict[str, DenseParams]
    sparse: dict[str, SparseParams]
    unnamed: bool  # one dense vector given as `{"size", "distance"}`: stored under the name ""
    hnsw: dict[str, Any]
    optimizers: dict[str, Any]
    wal: dict[str, Any]
    on_disk_payload: bool
    metadata: dict[str, Any] | None
    source: dict[str, Any]  # the JSON this spec was read from

    @classmethod
    def parse(cls, value: Any) -> CollectionSpec:
        """A `PUT /collections/{name}` body, refusing what the region store cannot create."""
        body = Obj.of(value)
        for key in _UNSUPPORTED:
            if body.has(key):
                raise Unsupported(f"collection {key}")
        if body.opt("sharding_method", one_of("auto", "custom")) == "custom":
            raise Unsupported("custom sharding")
        for key in _CLUSTER_FIELDS:
            body.opt(key, positive)
        hnsw = _diff(body, "hnsw_config", _HNSW_FIELDS)
        dense, unnamed = _dense_vectors(body, _dense_params)
        sparse = _sparse_vectors(body)
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

    @classmethod
    def from_info(cls, result: Any) -> CollectionSpec:
        """The spec of an existing collection, from the `result` of `GET /collections/{name}`.

        Settings this grammar does not model (quantization, strict mode, ...) are ignored rather
        than refused: the collection exists already, and writes are checked only against its vectors.
        """
        config = Obj.of(result, "result").req("config", Obj.of)
        params = config.req("params", Obj.of)
        dense, unnamed = _dense_vectors(params, _existing_dense_params)
        return cls(
            dense=dense,
            sparse=_sparse_vectors(params),
            unnamed=unnamed,
            hnsw={**HNSW_DEFAULTS, **(config.opt("hnsw_config", json_object) or {})},
            optimizers={**OPTIMIZER_DEFAULTS, **(config.opt("optimizer_config", json_object) or {})},
            wal={**WAL_DEFAULTS, **(config.opt("wal_config", json_object) or {})},
            on_disk_payload=bool(params.opt("on_disk_payload", boolean, True)),
            metadata=config.opt("metadata", json_object),
            source=config.data,
        )

    def with_vector(self, name: str, config: VectorConfig) -> CollectionSpec:
        """This spec with vector `name` added; itself when it has that vector already, as given."""
        current = self.sparse.get(name) if config.sparse else self.dense.get(name)
        if current is not None:
            wanted = _sparse_params(Obj.of(config.params)) if config.sparse else _dense_params(Obj.of(config.params))
            if _same_vector(current, wanted):
                return self
        if name in self.dense or name in self.sparse:
            raise WrongInput(f"Vector `{name}` already exists with different parameters; delete it before "
                             "recreating it with a different configuration")
        source = dict(self.source)
        if config.sparse:
            source["sparse_vectors"] = {**(source.get("sparse_vectors") or {}), name: config.params}
        else:
            vectors = source.get("vectors") or {}
            if self.unnamed:  # the one unnamed vector becomes the default one among named ones
                vectors = {"": vectors}
            source["vectors"] = {**vectors, name: config.params}
        return CollectionSpec.parse(source)

    def without_vector(self, name: str) -> CollectionSpec:
        """This spec without vector `name`; itself when it has no such vector."""
        if name not in self.dense and name not in self.sparse:
            return self
        if len(self.dense) + len(self.sparse) == 1:
            raise Unsupported("collections without vectors (deleting a collection's last vector)")
        source = dict(self.source)
        if self.unnamed and name == "":
            del source["vectors"]
            return CollectionSpec.parse(source)
        key = "sparse_vectors" if name in self.sparse else "vectors"
        source[key] = {other: params for other, params in (source.get(key) or {}).items() if other != name}
        return CollectionSpec.parse(source)

    @property
    def indexing_enabled(self) -> bool:
        """Qdrant's `indexing_threshold: 0` means "never build a vector index"."""
        return self.optimizers["indexing_threshold"] != 0

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


def _same_vector(a: DenseParams | SparseParams, b: DenseParams | SparseParams) -> bool:
    """Same vector space: what an engine compares when asked to create a vector again."""
    if isinstance(a, DenseParams) and isinstance(b, DenseParams):
        return (a.size, a.distance, a.multivector, a.datatype) == (b.size, b.distance, b.multivector, b.datatype)
    return isinstance(a, SparseParams) and isinstance(b, SparseParams) and a.idf == b.idf


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


def _dense_vectors(body: Obj, read: Callable[[Obj], DenseParams]) -> tuple[dict[str, DenseParams], bool]:
    """Qdrant's VectorsConfig: one unnamed vector's params, or name -> params."""
    vectors = body.sub("vectors")
    if vectors is None:
        return {}, False
    if "size" in vectors.data or "distance" in vectors.data:
        return {"": read(vectors)}, True
    return {name: read(Obj.of(params, vectors.where(name))) for name, params in vectors.data.items()}, False


def _dense_params(body: Obj) -> DenseParams:
    for key in ("quantization_config", "memory"):
        if body.has(key):
            raise Unsupported(body.where(key))
    size = body.req("size", positive)
    if size > MAX_DIMENSION:
        raise Unsupported(f"{body.where('size')} above {MAX_DIMENSION}")
    datatype = body.opt("datatype", one_of(*DATATYPES, "turbo4"))
    if datatype == "turbo4":
        raise Unsupported(f"{body.where('datatype')} turbo4")
    multivector = body.sub("multivector_config")
    if multivector is not None:
        multivector.req("comparator", one_of("max_sim"))
    return DenseParams(
        size=size,
        distance=body.req("distance", one_of(*DISTANCES)),
        multivector=multivector is not None,
        datatype=datatype,
        on_disk=body.opt("on_disk", boolean),
        hnsw=_diff(body, "hnsw_config", _HNSW_FIELDS),
    )


def _existing_dense_params(body: Obj) -> DenseParams:
    """Params as a Qdrant server reports them, whatever it supports that the store does not."""
    return DenseParams(
        size=body.req("size", positive),
        distance=body.req("distance", string),
        multivector=body.has("multivector_config"),
        datatype=body.opt("datatype", string),
        on_disk=body.opt("on_disk", boolean),
        hnsw=body.opt("hnsw_config", json_object) or {},
    )


def _sparse_vectors(body: Obj) -> dict[str, SparseParams]:
    sparse = body.sub("sparse_vectors")
    if sparse is None:
        return {}
    return {name: _sparse_params(Obj.of(params, sparse.where(name))) for name, params in sparse.data.items()}


def _sparse_params(body: Obj) -> SparseParams:
    index = {}
    if (spec := body.sub("index")) is not None:
        index = {
            key: value
            for key, value in (
                ("full_scan_threshold", spec.opt("full_scan_threshold", unsigned)),
                ("on_disk", spec.opt("on_disk", boolean)),
                ("datatype", spec.opt("datatype", one_of(*DATATYPES))),
            )
            if value is not None
        }
    modifier = body.opt("modifier", one_of("none", "idf"))
    return SparseParams(idf=modifier == "idf", index=index, modifier_given=modifier is not None)
