"""Typed read parameters (rgw.qdrant.selectors) -> qdrant_edge objects, and the simple read bodies
(retrieve, scroll, count, facet) -> engine requests. Queries are planned in queries.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import qdrant_edge as qe

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import WrongInput
from rgw.qdrant.fields import Obj, PointId, boolean, list_of, no_shard_key, point_id, positive
from rgw.qdrant.paths import payload_key
from rgw.qdrant.selectors import (
    Direction,
    OrderBy,
    SearchParams,
    WithPayload,
    WithVector,
    order_by,
    with_payload,
    with_vector,
)
from rgw.store.filters import filter_at

EnginePayload = bool | list[str] | qe.PayloadSelector
EngineVector = bool | list[str]


def engine_payload(selection: WithPayload) -> EnginePayload:
    if isinstance(selection, bool):
        return selection
    keys = [key.text for key in selection.keys]
    return qe.PayloadSelector.Include(keys) if selection.include else qe.PayloadSelector.Exclude(keys)


def engine_vector_selector(selection: WithVector) -> EngineVector:
    return selection if isinstance(selection, bool) else list(selection)


def engine_params(params: SearchParams | None) -> qe.SearchParams | None:
    if params is None:
        return None
    quantization, acorn = params.quantization, params.acorn
    return qe.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=params.exact,
        quantization=None if quantization is None else qe.QuantizationSearchParams(
            ignore=quantization.ignore, rescore=quantization.rescore, oversampling=quantization.oversampling),
        indexed_only=params.indexed_only,
        acorn=None if acorn is None else qe.AcornSearchParams(enable=acorn.enable,
                                                              max_selectivity=acorn.max_selectivity),
    )


def engine_order_by(order: OrderBy) -> qe.OrderBy:
    direction = None if order.direction is None else (
        qe.Direction.Asc if order.direction is Direction.ASC else qe.Direction.Desc)
    return qe.OrderBy(order.key.text, direction=direction, start_from=order.start_from)


# -- simple reads ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Retrieve:
    ids: list[PointId]
    with_payload: EnginePayload
    with_vector: EngineVector


def retrieve_request(value: Any, spec: CollectionSpec) -> Retrieve:
    """`POST points` body (Qdrant's PointRequest)."""
    body = Obj.of(value)
    no_shard_key(body)
    return Retrieve(
        ids=body.req("ids", list_of(point_id)),
        with_payload=engine_payload(with_payload(body, default=True)),
        with_vector=engine_vector_selector(with_vector(body, default=False, spec=spec)),
    )


def scroll_request(value: Any, spec: CollectionSpec) -> qe.ScrollRequest:
    """`POST points/scroll` body (Qdrant's ScrollRequest)."""
    body = Obj.of(value)
    no_shard_key(body)
    order = body.opt("order_by", order_by)
    offset = body.opt("offset", point_id)
    if order is not None and offset is not None:
        raise WrongInput("Cannot use an `offset` when using `order_by`. The alternative for paging is to use "
                         "`order_by.start_from` and a filter to exclude the IDs that you've already seen "
                         "for the `order_by.start_from` value")
    return qe.ScrollRequest(
        offset=offset,
        limit=body.opt("limit", positive, 10),
        filter=filter_at(body),
        with_payload=engine_payload(with_payload(body, default=True)),
        with_vector=engine_vector_selector(with_vector(body, default=False, spec=spec)),
        order_by=None if order is None else engine_order_by(order),
    )


def count_request(value: Any) -> qe.CountRequest:
    body = Obj.of(value)
    no_shard_key(body)
    return qe.CountRequest(
        exact=body.opt("exact", boolean, True),
        filter=filter_at(body),
    )


def facet_request(value: Any) -> qe.FacetRequest:
    body = Obj.of(value)
    no_shard_key(body)
    return qe.FacetRequest(
        key=body.req("key", payload_key).text,
        limit=body.opt("limit", positive, 10),
        exact=body.opt("exact", boolean, False),
        filter=filter_at(body),
    )
