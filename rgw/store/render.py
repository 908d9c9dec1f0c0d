"""qdrant_edge results -> Qdrant's JSON shapes (ScoredPoint, Record, CollectionInfo parts).

Ids stay as the engine returns them (int or uuid.UUID): orjson writes a UUID in the hyphenated
form Qdrant uses.
"""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rgw.qdrant.collection import CollectionSpec
from rgw.store.writes import SCHEMA_TYPES

_SCHEMA_NAMES = {engine: name for name, engine in SCHEMA_TYPES.items()}


def vector(value: Any) -> Any:
    """Qdrant's VectorStructOutput: a list for the default vector, else name -> vector."""
    if isinstance(value, dict):
        return {name: _one_vector(v) for name, v in value.items()}
    return _one_vector(value)


def _one_vector(value: Any) -> Any:
    if isinstance(value, qe.SparseVector):
        return {"indices": value.indices, "values": value.values}
    return value


def scored_point(point: qe.ScoredPoint) -> dict[str, Any]:
    out = {
        "id": point.id,
        "version": point.version,
        "score": point.score,
        "payload": point.payload,
        "vector": vector(point.vector),
    }
    if point.order_value is not None:
        out["order_value"] = point.order_value
    return out


def scored_points(points: list[qe.ScoredPoint]) -> list[dict[str, Any]]:
    return [scored_point(p) for p in points]


def record(point: qe.Record) -> dict[str, Any]:
    out = {"id": point.id, "payload": point.payload, "vector": vector(point.vector)}
    if point.order_value is not None:
        out["order_value"] = point.order_value
    return out


def records(points: list[qe.Record]) -> list[dict[str, Any]]:
    return [record(p) for p in points]


def collection_info(stats: qe.ShardInfo, spec: CollectionSpec, indexing: bool) -> dict[str, Any]:
    """Qdrant's CollectionInfo; `yellow` while an index build runs, as Qdrant reports optimizations."""
    return {
        "status": "yellow" if indexing else "green",
        "optimizer_status": "ok",
        "indexed_vectors_count": stats.indexed_vectors_count,
        "points_count": stats.points_count,
        "segments_count": stats.segments_count,
        "config": spec.config_json(),
        "payload_schema": payload_schema(stats.payload_schema),
    }


def payload_schema(schema: dict[str, qe.PayloadIndexInfo]) -> dict[str, Any]:
    """Qdrant's `payload_schema`: indexed field -> `{data_type, points}`."""
    return {
        field: {"data_type": _SCHEMA_NAMES[info.data_type], "points": info.points}
        for field, info in schema.items()
    }


def facet_hits(response: qe.FacetResponse) -> dict[str, Any]:
    return {"hits": [{"value": hit.value, "count": hit.count} for hit in response.hits]}
