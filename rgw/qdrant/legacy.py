"""The search, recommend and discover endpoints that predate the Query API (gone from the 1.19
spec, still called by older qdrant-client versions and applications), each read into the Query
API request it is equivalent to, so one code path answers both.

    points/search[/batch|/groups]      SearchRequest: `vector` is a plain vector or `{name, vector}`
    points/recommend[/batch|/groups]   RecommendRequest: `positive`, `negative`, `strategy`, `using`
    points/discover[/batch]            DiscoverRequest: `target` and/or `context` pairs

Their bodies require `limit` (and `group_size` for groups), and none of them has `prefetch`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import FormatError
from rgw.qdrant.fields import Obj, anything, array, at, no_shard_key, number, one_of, positive, string, unsigned
from rgw.qdrant.filters import parse_filter
from rgw.qdrant.query import (
    Context,
    ContextPair,
    Discover,
    GroupsRequest,
    Nearest,
    Query,
    QueryRequest,
    Recommend,
    RecommendStrategy,
    Stage,
    check_recommend,
    check_stage,
    group_fields,
    lookup_location,
    vector_input,
)
from rgw.qdrant.selectors import search_params, with_payload, with_vector
from rgw.qdrant.vectors import named_vector

Reader = Callable[[Any, CollectionSpec, str], QueryRequest]


def search(value: Any, spec: CollectionSpec, path: str = "") -> QueryRequest:
    """`POST points/search` body (Qdrant's SearchRequest)."""
    body = Obj.of(value, path)
    using, query = _named_vector(body, spec)
    return _request(body, spec, using, query)


def recommend(value: Any, spec: CollectionSpec, path: str = "") -> QueryRequest:
    """`POST points/recommend` body (Qdrant's RecommendRequest)."""
    body = Obj.of(value, path)
    using, query = _recommend(body, spec)
    return _request(body, spec, using, query)


def discover(value: Any, spec: CollectionSpec, path: str = "") -> QueryRequest:
    """`POST points/discover` body (Qdrant's DiscoverRequest): with a `target`, a discovery
    search; with `context` pairs only, a context search."""
    body = Obj.of(value, path)
    using = body.opt("using", string, "") or ""
    pairs = []
    for i, item in enumerate(body.opt("context", array) or []):
        pair = Obj.of(item, at(body.where("context"), i))
        pairs.append(ContextPair(*(pair.req(side, _input(spec, using)) for side in ("positive", "negative"))))
    target = body.opt("target", _input(spec, using))
    query: Query
    if target is not None:
        query = Discover(target, tuple(pairs))
    elif pairs:
        query = Context(tuple(pairs))
    else:
        raise FormatError(body.path, "a `target` or at least one `context` pair is required")
    return _request(body, spec, using, query)


def batch(reader: Reader) -> Callable[[Any, CollectionSpec], list[QueryRequest]]:
    """The `/batch` form of a legacy endpoint: `{"searches": [body, ...]}`."""

    def read(value: Any, spec: CollectionSpec) -> list[QueryRequest]:
        searches = Obj.of(value).req("searches", array)
        return [reader(item, spec, at("searches", i)) for i, item in enumerate(searches)]

    return read


def search_groups(value: Any, spec: CollectionSpec) -> GroupsRequest:
    """`POST points/search/groups` body (Qdrant's SearchGroupsRequest)."""
    body = Obj.of(value)
    using, query = _named_vector(body, spec)
    return _groups(body, spec, using, query)


def recommend_groups(value: Any, spec: CollectionSpec) -> GroupsRequest:
    """`POST points/recommend/groups` body (Qdrant's RecommendGroupsRequest)."""
    body = Obj.of(value)
    using, query = _recommend(body, spec)
    return _groups(body, spec, using, query)


def _named_vector(body: Obj, spec: CollectionSpec) -> tuple[str, Query]:
    """NamedVectorStruct: a plain vector for the default name, or `{"name", "vector"}`."""
    given, where = body.req("vector", anything), body.where("vector")
    using = ""
    if isinstance(given, dict) and "name" in given:
        named = Obj.of(given, where)
        using, given, where = named.req("name", string), named.req("vector", anything), named.where("vector")
    return using, Nearest(named_vector(spec, using, given, where))


def _recommend(body: Obj, spec: CollectionSpec) -> tuple[str, Recommend]:
    using = body.opt("using", string, "") or ""
    strategy = body.opt("strategy", one_of(*(s.value for s in RecommendStrategy)))
    query = Recommend(
        positive=tuple(body.opt("positive", _inputs(spec, using)) or ()),
        negative=tuple(body.opt("negative", _inputs(spec, using)) or ()),
        strategy=RecommendStrategy(strategy or RecommendStrategy.AVERAGE_VECTOR.value),
    )
    check_recommend(query, body.path)
    return using, query


def _input(spec: CollectionSpec, using: str) -> Any:
    return lambda value, path: vector_input(value, path, spec, using)


def _inputs(spec: CollectionSpec, using: str) -> Any:
    def read(value: Any, path: str) -> list[Any]:
        return [vector_input(item, at(path, i), spec, using) for i, item in enumerate(array(value, path))]

    return read


def _stage(body: Obj, using: str, query: Query, limit: int) -> Stage:
    found = Stage(
        prefetch=(),
        query=query,
        using=using,
        filter=parse_filter(body.data.get("filter"), body.where("filter")),
        params=body.opt("params", search_params),
        score_threshold=body.opt("score_threshold", number),
        limit=limit,
        lookup_from=body.opt("lookup_from", lookup_location),
    )
    check_stage(found, body.path)
    return found


def _request(body: Obj, spec: CollectionSpec, using: str, query: Query) -> QueryRequest:
    no_shard_key(body)
    return QueryRequest(
        stage=_stage(body, using, query, body.req("limit", positive)),
        offset=body.opt("offset", unsigned, 0) or 0,
        with_payload=with_payload(body, default=False),
        with_vector=with_vector(body, default=False, spec=spec),
    )


def _groups(body: Obj, spec: CollectionSpec, using: str, query: Query) -> GroupsRequest:
    no_shard_key(body)
    body.req("group_size", positive)  # required here, optional in the Query API's groups
    limit = body.req("limit", positive)
    request = QueryRequest(_stage(body, using, query, limit), 0, with_payload(body, default=False),
                           with_vector(body, default=False, spec=spec))
    return group_fields(body, request)
