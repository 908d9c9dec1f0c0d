"""Qdrant JSON read requests -> qdrant_edge requests: query, search, scroll, count, facet,
retrieve, and the payload/vector selectors and search params they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import qdrant_edge as qe

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.datetimes import timestamp
from rgw.qdrant.errors import FormatError, Unsupported, WrongInput
from rgw.qdrant.fields import (
    Obj,
    PointId,
    anything,
    array,
    at,
    boolean,
    fail,
    integer,
    list_of,
    no_shard_key,
    number,
    one_of,
    point_id,
    positive,
    string,
    unsigned,
)
from rgw.qdrant.paths import payload_key
from rgw.qdrant.vectors import check_vector_name, named_vector, refuse_inference
from rgw.store.filters import filter_at
from rgw.store.vectors import engine_vector

WithPayload = bool | list[str] | qe.PayloadSelector
WithVector = bool | list[str]
ScoringQuery = Any  # qe.Query | qe.OrderBy | qe.Sample: the engine's union has no Python name
Scoring = tuple[ScoringQuery | None, PointId | None]  # the query, or the point whose vector to use

# Query kinds of Qdrant's `Query` schema this store does not implement.
_UNSUPPORTED_QUERIES = ("recommend", "discover", "context", "fusion", "rrf", "formula", "relevance_feedback")


# -- selectors and parameters -----------------------------------------------------------------

def with_payload(body: Obj, default: bool) -> WithPayload:
    value = body.data.get("with_payload")
    if value is None:
        return default
    path = body.where("with_payload")
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return _key_texts(value, path)
    selector = Obj.of(value, path)
    if selector.has("include"):
        return qe.PayloadSelector.Include(selector.req("include", _key_texts))
    if selector.has("exclude"):
        return qe.PayloadSelector.Exclude(selector.req("exclude", _key_texts))
    raise fail(path, "a boolean, a list of keys, `{\"include\": [...]}` or `{\"exclude\": [...]}`", value)


def _key_texts(value: Any, path: str) -> list[str]:
    return [key.text for key in list_of(payload_key)(value, path)]


def with_vector(body: Obj, default: bool, spec: CollectionSpec) -> WithVector:
    # Qdrant also accepts the plural spelling here.
    key = "with_vector" if "with_vector" in body.data else "with_vectors"
    value = body.data.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    names = list_of(string)(value, body.where(key))
    for name in names:
        check_vector_name(spec, name)
    return names


def _search_params(value: Any, path: str) -> qe.SearchParams:
    body = Obj.of(value, path)
    if body.has("idf"):
        raise Unsupported(body.where("idf"))
    quantization = body.sub("quantization")
    acorn = body.sub("acorn")
    return qe.SearchParams(
        hnsw_ef=body.opt("hnsw_ef", positive),
        exact=body.opt("exact", boolean, False),
        quantization=None if quantization is None else qe.QuantizationSearchParams(
            ignore=quantization.opt("ignore", boolean, False),
            rescore=quantization.opt("rescore", boolean),
            oversampling=quantization.opt("oversampling", number),
        ),
        indexed_only=body.opt("indexed_only", boolean, False),
        acorn=None if acorn is None else qe.AcornSearchParams(
            enable=acorn.opt("enable", boolean, False),
            max_selectivity=acorn.opt("max_selectivity", number),
        ),
    )


def _order_by(value: Any, path: str) -> qe.OrderBy:
    """Qdrant's OrderByInterface: a key, or `{key, direction, start_from}`."""
    if isinstance(value, str):
        return qe.OrderBy(payload_key(value, path).text)
    body = Obj.of(value, path)
    key = body.req("key", payload_key)
    direction = body.opt("direction", one_of("asc", "desc"))
    return qe.OrderBy(
        key.text,
        direction=None if direction is None else (qe.Direction.Asc if direction == "asc" else qe.Direction.Desc),
        start_from=body.opt("start_from", _start_from),
    )


def _start_from(value: Any, path: str) -> int | float | str:
    if isinstance(value, str):
        if timestamp(value) is None:
            raise fail(path, "a number or a datetime", value)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(value, path)
    return number(value, path)


# -- queries ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueryPlan:
    """A query translated as far as its body goes: a query by point id still needs that point's
    vector, which only the collection can look up."""

    limit: int
    offset: int
    using: str
    query: ScoringQuery | None
    by_id: PointId | None
    filter: qe.Filter | None
    score_threshold: float | None
    params: qe.SearchParams | None
    with_payload: WithPayload
    with_vector: WithVector

    def request(self, reference: Any = None) -> qe.QueryRequest:
        """The engine request; `reference` is the vector of point `by_id` when there is one."""
        query, filter_ = self.query, self.filter
        if self.by_id is not None:
            query = qe.Query.Nearest(reference, using=self.using or None)
            # As Qdrant does, leave the referenced point out of its own neighbours.
            exclude = [qe.HasIdCondition({self.by_id})]
            filter_ = qe.Filter(must=None if filter_ is None else [filter_], must_not=exclude)
        return qe.QueryRequest(
            limit=self.limit,
            offset=self.offset,
            query=query,
            with_vector=self.with_vector,
            with_payload=self.with_payload,
            filter=filter_,
            score_threshold=self.score_threshold,
            params=self.params,
        )


def query_plan(value: Any, spec: CollectionSpec, path: str = "") -> QueryPlan:
    """`POST points/query` body (Qdrant's QueryRequest)."""
    body = Obj.of(value, path)
    for key in ("prefetch", "lookup_from"):
        if body.has(key):
            raise Unsupported(f"points/query {key}")
    using = body.opt("using", string, "")
    query, by_id = _scoring_query(body.data.get("query"), body.where("query"), spec, using)
    return _plan(body, spec, limit=body.opt("limit", positive, 10), using=using, query=query, by_id=by_id)


def search_plan(value: Any, spec: CollectionSpec, path: str = "") -> QueryPlan:
    """Legacy `POST points/search` body (Qdrant's SearchRequest, removed from the 1.19 spec)."""
    body = Obj.of(value, path)
    # NamedVectorStruct: a plain vector for the default name, or `{"name", "vector"}`.
    given = body.req("vector", anything)
    using, vector_path = "", body.where("vector")
    if isinstance(given, dict) and "name" in given:
        named = Obj.of(given, vector_path)
        using, given, vector_path = named.req("name", string), named.req("vector", anything), named.where("vector")
    query = _nearest(given, vector_path, spec, using)
    return _plan(body, spec, limit=body.req("limit", positive), using=using, query=query, by_id=None)


def _plan(body: Obj, spec: CollectionSpec, *, limit: int, using: str, query: ScoringQuery | None,
          by_id: PointId | None) -> QueryPlan:
    """The fields QueryRequest and the legacy SearchRequest share."""
    no_shard_key(body)
    return QueryPlan(
        limit=limit,
        offset=body.opt("offset", unsigned, 0),
        using=using,
        query=query,
        by_id=by_id,
        filter=filter_at(body),
        score_threshold=body.opt("score_threshold", number),
        params=body.opt("params", _search_params),
        with_payload=with_payload(body, default=False),
        with_vector=with_vector(body, default=False, spec=spec),
    )


def query_batch_plans(value: Any, spec: CollectionSpec) -> list[QueryPlan]:
    """`POST points/query/batch` body: `{"searches": [QueryRequest, ...]}`."""
    return _batch(value, spec, query_plan)


def search_batch_plans(value: Any, spec: CollectionSpec) -> list[QueryPlan]:
    """Legacy `POST points/search/batch` body: `{"searches": [SearchRequest, ...]}`."""
    return _batch(value, spec, search_plan)


def _batch(value: Any, spec: CollectionSpec, plan: Callable[[Any, CollectionSpec, str], QueryPlan]) -> list[QueryPlan]:
    searches = Obj.of(value).req("searches", array)
    return [plan(item, spec, at("searches", i)) for i, item in enumerate(searches)]


def _scoring_query(value: Any, path: str, spec: CollectionSpec, using: str) -> Scoring:
    """Qdrant's QueryInterface: a vector input, or one of the `Query` objects."""
    if value is None:
        return None, None
    if isinstance(value, dict) and not _is_sparse(value):
        body = Obj.of(value, path)
        if "nearest" in body.data:
            if body.has("mmr"):
                raise Unsupported("points/query mmr")
            return _vector_input(body.data["nearest"], body.where("nearest"), spec, using)
        if body.has("order_by"):
            return body.req("order_by", _order_by), None
        if body.has("sample"):
            body.req("sample", one_of("random"))
            return qe.Sample.Random, None
        for kind in _UNSUPPORTED_QUERIES:
            if kind in body.data:
                raise Unsupported(f"points/query {kind} query")
        refuse_inference(body)
        raise FormatError(path, "expected a vector, a point id, or one of `nearest`, `order_by`, `sample`")
    return _vector_input(value, path, spec, using)


def _is_sparse(value: dict[str, Any]) -> bool:
    return "indices" in value and "values" in value


def _vector_input(value: Any, path: str, spec: CollectionSpec, using: str) -> Scoring:
    """Qdrant's VectorInput: dense, sparse or multi vector, or the id of a point to take it from."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        check_vector_name(spec, using)
        return None, point_id(value, path)
    return _nearest(value, path, spec, using), None


def _nearest(value: Any, path: str, spec: CollectionSpec, using: str) -> qe.Query:
    return qe.Query.Nearest(engine_vector(named_vector(spec, using, value, path)), using=using or None)


# -- other reads ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Retrieve:
    ids: list[PointId]
    with_payload: WithPayload
    with_vector: WithVector


def retrieve_request(value: Any, spec: CollectionSpec) -> Retrieve:
    """`POST points` body (Qdrant's PointRequest)."""
    body = Obj.of(value)
    no_shard_key(body)
    return Retrieve(
        ids=body.req("ids", list_of(point_id)),
        with_payload=with_payload(body, default=True),
        with_vector=with_vector(body, default=False, spec=spec),
    )


def scroll_request(value: Any, spec: CollectionSpec) -> qe.ScrollRequest:
    """`POST points/scroll` body (Qdrant's ScrollRequest)."""
    body = Obj.of(value)
    no_shard_key(body)
    order_by = body.opt("order_by", _order_by)
    offset = body.opt("offset", point_id)
    if order_by is not None and offset is not None:
        raise WrongInput("Cannot use an `offset` when using `order_by`. The alternative for paging is to use "
                         "`order_by.start_from` and a filter to exclude the IDs that you've already seen "
                         "for the `order_by.start_from` value")
    return qe.ScrollRequest(
        offset=offset,
        limit=body.opt("limit", positive, 10),
        filter=filter_at(body),
        with_payload=with_payload(body, default=True),
        with_vector=with_vector(body, default=False, spec=spec),
        order_by=order_by,
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
