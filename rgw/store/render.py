"""qdrant_edge results -> Qdrant's JSON shapes (ScoredPoint, Record, CollectionInfo parts).

Ids stay as the engine returns them (int or uuid.UUID): orjson writes a UUID in the hyphenated
form Qdrant uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

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


class Scored(Protocol):
    """What a scored point offers: the engine's ScoredPoint, or a Hit made here."""

    @property
    def id(self) -> Any: ...
    @property
    def version(self) -> int: ...
    @property
    def score(self) -> float: ...
    @property
    def payload(self) -> Any: ...
    @property
    def vector(self) -> Any: ...
    @property
    def order_value(self) -> Any: ...


@dataclass(frozen=True)
class Hit:
    """A scored point the store made itself (results computed outside the engine)."""

    id: Any
    version: int
    score: float
    payload: Any
    vector: Any
    order_value: Any = None


def selecting_vectors(point: Scored, selection: bool | tuple[str, ...]) -> Hit:
    """`point` with only the vectors `selection` asks for (an engine MMR hands back the vector it
    compared, asked for or not)."""
    vector = point.vector
    if selection is False:
        vector = None
    elif selection is not True:
        if isinstance(vector, dict):
            vector = {name: value for name, value in vector.items() if name in selection} or None
        elif "" not in selection:
            vector = None
    return Hit(point.id, point.version, point.score, point.payload, vector, point.order_value)


def scored_point(point: Scored) -> dict[str, Any]:
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


def scored_points(points: list[Any]) -> list[dict[str, Any]]:
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


def matrix_pairs(ids: list[Any], rows: list[list[Any]]) -> dict[str, Any]:
    """Qdrant's SearchMatrixPairsResponse: each sampled point's neighbours as (a, b, score)."""
    return {"pairs": [{"a": a, "b": point.id, "score": point.score}
                      for a, row in zip(ids, rows, strict=True) for point in row]}


def matrix_offsets(ids: list[Any], rows: list[list[Any]]) -> dict[str, Any]:
    """Qdrant's SearchMatrixOffsetsResponse: a sparse matrix over `ids` (rows: samples, columns:
    neighbours, both as offsets into `ids`)."""
    offset = {point_id: i for i, point_id in enumerate(ids)}
    cells = [(r, offset[point.id], point.score) for r, row in enumerate(rows) for point in row]
    return {"offsets_row": [c[0] for c in cells], "offsets_col": [c[1] for c in cells],
            "scores": [c[2] for c in cells], "ids": ids}
