"""The distance matrix (`points/search/matrix/pairs|offsets`), as Qdrant computes it: a random
sample of the points that match the filter and have the vector, then each sampled point's
nearest neighbours among the sample (itself left out)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from rgw.qdrant.fields import PointId, canonical_id
from rgw.qdrant.query import MatrixRequest
from rgw.store.filters import engine_filter
from rgw.store.render import Hit

if TYPE_CHECKING:
    from rgw.store.collection import Collection


def distance_matrix(collection: Collection, request: MatrixRequest) -> tuple[list[PointId], list[list[Hit]]]:
    """The sampled ids (in Qdrant's id order) and, per sampled point, its neighbours."""
    has_vector: list[Any] = [qe.HasVectorCondition(request.using)]
    if request.filter is not None:
        has_vector.append(engine_filter(request.filter))
    sampled = collection.query([qe.QueryRequest(
        limit=request.sample, query=qe.Sample.Random, filter=qe.Filter(must=has_vector),
        with_vector=[request.using], with_payload=False)])[0]
    if len(sampled) < 2:
        return [], []
    vectors = {canonical_id(point.id): _vector(point.vector, request.using) for point in sampled}
    ids = sorted(vectors, key=_id_order)
    among = qe.Filter(must=[qe.HasIdCondition(set(ids))])
    using = request.using or None
    searches = [qe.QueryRequest(limit=request.limit + 1, query=qe.Query.Nearest(vectors[i], using=using),
                                filter=among, with_vector=False, with_payload=False) for i in ids]
    rows = []
    for sample, found in zip(ids, collection.query(searches), strict=True):
        row = [Hit(canonical_id(point.id), point.version, point.score, None, None) for point in found]
        mine = [hit for hit in row if hit.id == sample]
        if mine:
            row.remove(mine[0])
        elif len(row) == request.limit + 1:
            row.pop()
        rows.append(row)
    return ids, rows


def _vector(vectors: Any, name: str) -> Any:
    return vectors.get(name) if isinstance(vectors, dict) else vectors


def _id_order(point_id: PointId) -> tuple[int, int]:
    """Qdrant orders numeric ids before UUIDs, UUIDs by their 128-bit value."""
    if isinstance(point_id, int):
        return (0, point_id)
    return (1, uuid.UUID(point_id).int)
