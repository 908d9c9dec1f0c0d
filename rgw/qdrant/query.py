"""Qdrant's Query API bodies (`points/query`, `/batch`, `/groups`, `points/search/matrix/*`),
parsed into plain typed data and checked against the collection's spec.

A request is a tree of stages: the root and its `prefetch`es share one shape (`Stage`), and the
root adds paging and what to return. Vectors given inline are checked against the vector named
by `using`; vectors given as point ids (`PointRef`) are looked up by whoever runs the query.
Checks that Qdrant makes before running a query are made here too, in its words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import BadRequest, FormatError
from rgw.qdrant.fields import (
    Obj,
    PointId,
    array,
    at,
    fail,
    list_of,
    no_shard_key,
    number,
    one_of,
    point_id,
    positive,
    shown,
    string,
    unsigned,
)
from rgw.qdrant.filters import Filter, parse_filter
from rgw.qdrant.formula import Formula, formula
from rgw.qdrant.paths import PayloadKey, payload_key
from rgw.qdrant.selectors import (
    OrderBy,
    SearchParams,
    WithPayload,
    WithVector,
    order_by,
    payload_selector,
    search_params,
    vector_selector,
    with_payload,
    with_vector,
)
from rgw.qdrant.vectors import Vector, check_vector_name, named_vector, refuse_inference

DEFAULT_LIMIT = 10
DEFAULT_GROUP_SIZE = 3
MAX_MMR_CANDIDATES = 16384


@dataclass(frozen=True)
class PointRef:
    """A vector given as the id of the point that holds it."""

    id: PointId


VectorInput = Vector | PointRef


@dataclass(frozen=True)
class Mmr:
    diversity: float | None  # in [0, 1]; None: Qdrant's default 0.5
    candidates_limit: int | None  # None: the stage's limit


@dataclass(frozen=True)
class Nearest:
    input: VectorInput
    mmr: Mmr | None = None


class RecommendStrategy(Enum):
    AVERAGE_VECTOR = "average_vector"
    BEST_SCORE = "best_score"
    SUM_SCORES = "sum_scores"


@dataclass(frozen=True)
class Recommend:
    positive: tuple[VectorInput, ...]
    negative: tuple[VectorInput, ...]
    strategy: RecommendStrategy


@dataclass(frozen=True)
class ContextPair:
    positive: VectorInput
    negative: VectorInput


@dataclass(frozen=True)
class Discover:
    target: VectorInput
    pairs: tuple[ContextPair, ...]


@dataclass(frozen=True)
class Context:
    pairs: tuple[ContextPair, ...]


class FusionKind(Enum):
    RRF = "rrf"
    DBSF = "dbsf"


@dataclass(frozen=True)
class Fusion:
    kind: FusionKind
    k: int | None = None  # RRF only; None: Qdrant's default 2
    weights: tuple[float, ...] | None = None  # RRF only: one per prefetch


@dataclass(frozen=True)
class Sample:
    """`{"sample": "random"}`: random points."""


@dataclass(frozen=True)
class FeedbackItem:
    example: VectorInput
    score: float


@dataclass(frozen=True)
class RelevanceFeedback:
    """Naive relevance feedback: the target moved by scored examples (coefficients a, b, c)."""

    target: VectorInput
    feedback: tuple[FeedbackItem, ...]
    a: float
    b: float
    c: float


Query = Nearest | Recommend | Discover | Context | Fusion | OrderBy | Formula | Sample | RelevanceFeedback
VectorQuery = Nearest | Recommend | Discover | Context | RelevanceFeedback


@dataclass(frozen=True)
class LookupLocation:
    """Where vectors given as point ids come from: another collection (or alias), and which of
    its vectors (None: the stage's `using`)."""

    collection: str
    vector: str | None = None


@dataclass(frozen=True)
class Stage:
    """The root of a query or one of its prefetches: what to search and how."""

    prefetch: tuple[Stage, ...]
    query: Query | None
    using: str
    filter: Filter | None
    params: SearchParams | None
    score_threshold: float | None
    limit: int
    lookup_from: LookupLocation | None

    @property
    def lookup_vector(self) -> str:
        """The vector name that point ids in this stage's query refer to."""
        if self.lookup_from is not None and self.lookup_from.vector is not None:
            return self.lookup_from.vector
        return self.using


@dataclass(frozen=True)
class QueryRequest:
    stage: Stage
    offset: int
    with_payload: WithPayload
    with_vector: WithVector


@dataclass(frozen=True)
class WithLookup:
    """Fetch each group's id as a point of another collection."""

    collection: str
    with_payload: WithPayload = True
    with_vector: WithVector = False


@dataclass(frozen=True)
class GroupsRequest:
    request: QueryRequest  # its limit is irrelevant: the groups are limited by `limit`
    group_by: PayloadKey
    group_size: int
    limit: int  # groups
    with_lookup: WithLookup | None


@dataclass(frozen=True)
class MatrixRequest:
    filter: Filter | None
    sample: int
    limit: int
    using: str


# -- request bodies --------------------------------------------------------------------------

def query_request(value: Any, spec: CollectionSpec, path: str = "") -> QueryRequest:
    """`POST points/query` body (Qdrant's QueryRequest)."""
    body = Obj.of(value, path)
    no_shard_key(body)
    return QueryRequest(
        stage=stage(body, spec),
        offset=body.opt("offset", unsigned, 0) or 0,
        with_payload=with_payload(body, default=False),
        with_vector=with_vector(body, default=False, spec=spec),
    )


def query_batch(value: Any, spec: CollectionSpec) -> list[QueryRequest]:
    """`POST points/query/batch` body: `{"searches": [QueryRequest, ...]}`."""
    searches = Obj.of(value).req("searches", array)
    return [query_request(item, spec, at("searches", i)) for i, item in enumerate(searches)]


def groups_request(value: Any, spec: CollectionSpec) -> GroupsRequest:
    """`POST points/query/groups` body (Qdrant's QueryGroupsRequest)."""
    body = Obj.of(value)
    no_shard_key(body)
    request = QueryRequest(stage(body, spec), 0, with_payload(body, default=False),
                           with_vector(body, default=False, spec=spec))
    return group_fields(body, request)


def group_fields(body: Obj, request: QueryRequest) -> GroupsRequest:
    """What every `/groups` body adds to its query: `group_by`, `group_size`, `limit`, `with_lookup`."""
    return GroupsRequest(
        request=request,
        group_by=body.req("group_by", payload_key),
        group_size=body.opt("group_size", positive, DEFAULT_GROUP_SIZE) or DEFAULT_GROUP_SIZE,
        limit=body.opt("limit", positive, DEFAULT_LIMIT) or DEFAULT_LIMIT,
        with_lookup=body.opt("with_lookup", _with_lookup),
    )


def matrix_request(value: Any, spec: CollectionSpec) -> MatrixRequest:
    """`POST points/search/matrix/{pairs,offsets}` body (Qdrant's SearchMatrixRequest)."""
    body = Obj.of(value)
    no_shard_key(body)
    using = body.opt("using", string, "") or ""
    check_vector_name(spec, using)
    sample = body.opt("sample", unsigned, 10)
    if sample is not None and sample < 2:
        raise fail(body.where("sample"), "an integer >= 2", sample)
    return MatrixRequest(
        filter=parse_filter(body.data.get("filter"), body.where("filter")),
        sample=sample or 10,
        limit=body.opt("limit", positive, 3) or 3,
        using=using,
    )


def stage(body: Obj, spec: CollectionSpec) -> Stage:
    """The fields a QueryRequest shares with a Prefetch, checked as Qdrant checks them."""
    using = body.opt("using", string, "") or ""
    query = _query(body.data.get("query"), body.where("query"), spec, using)
    found = Stage(
        prefetch=tuple(_prefetches(body, spec)),
        query=query,
        using=using,
        filter=parse_filter(body.data.get("filter"), body.where("filter")),
        params=body.opt("params", search_params),
        score_threshold=body.opt("score_threshold", number),
        limit=body.opt("limit", positive, DEFAULT_LIMIT) or DEFAULT_LIMIT,
        lookup_from=body.opt("lookup_from", lookup_location),
    )
    check_stage(found, body.path)
    return found


def check_stage(found: Stage, path: str) -> None:
    """Qdrant's own checks of a query stage, in its words."""
    where = f" ({path})" if path else ""
    if found.prefetch and found.query is None:
        raise BadRequest("Bad request: A query is needed to merge the prefetches. Can't have prefetches "
                         f"without defining a query.{where}")
    if found.score_threshold is not None:
        if isinstance(found.query, OrderBy):
            raise BadRequest(f"Bad request: Can't use score_threshold with an order_by query.{where}")
        if found.query is None:
            raise BadRequest("Bad request: A query is needed to use the score_threshold. Can't have "
                             f"score_threshold without defining a query.{where}")
    if isinstance(found.query, Fusion) and found.using:
        raise BadRequest(f"Bad request: Fusion queries cannot be combined with the 'using' field.{where}")


def _prefetches(body: Obj, spec: CollectionSpec) -> list[Stage]:
    """`prefetch`: one Prefetch or a list of them."""
    value, path = body.data.get("prefetch"), body.where("prefetch")
    if value is None:
        return []
    if isinstance(value, dict):
        return [_prefetch(value, path, spec)]
    return [_prefetch(item, at(path, i), spec) for i, item in enumerate(array(value, path))]


def _prefetch(value: Any, path: str, spec: CollectionSpec) -> Stage:
    try:
        return stage(Obj.of(value, path), spec)
    except RecursionError:
        raise FormatError(path, "prefetches nested too deeply") from None


def lookup_location(value: Any, path: str) -> LookupLocation:
    body = Obj.of(value, path)
    no_shard_key(body)
    return LookupLocation(body.req("collection", string), body.opt("vector", string))


def _with_lookup(value: Any, path: str) -> WithLookup:
    """Qdrant's WithLookupInterface: a collection name, or `{collection, with_payload, with_vectors}`."""
    if isinstance(value, str):
        return WithLookup(value)
    body = Obj.of(value, path)
    key = "with_vectors" if "with_vectors" in body.data else "with_vector"
    return WithLookup(
        collection=body.req("collection", string),
        with_payload=body.opt("with_payload", payload_selector, True),
        with_vector=body.opt(key, _any_vector_names, False),
    )


def _any_vector_names(value: Any, path: str) -> WithVector:
    """Vector names of another collection, whose spec is not at hand: checked when looked up."""
    return vector_selector(value, path, None)


# -- queries ---------------------------------------------------------------------------------

_QUERY_KINDS = ("nearest", "recommend", "discover", "context", "order_by", "fusion", "rrf", "formula", "sample",
                "relevance_feedback")


def _query(value: Any, path: str, spec: CollectionSpec, using: str) -> Query | None:
    """Qdrant's QueryInterface: a vector input, or one of the `Query` objects."""
    if value is None:
        return None
    if not isinstance(value, dict) or _is_sparse(value):
        return Nearest(vector_input(value, path, spec, using))
    body = Obj.of(value, path)
    if "nearest" in body.data:
        return Nearest(body.req("nearest", _input_reader(spec, using)), body.opt("mmr", _mmr))
    if "recommend" in body.data:
        return _recommend(body.req("recommend", Obj.of), spec, using)
    if "discover" in body.data:
        discover = body.req("discover", Obj.of)
        return Discover(discover.req("target", _input_reader(spec, using)),
                        _context_pairs(discover.data.get("context"), discover.where("context"), spec, using))
    if "context" in body.data:
        return Context(_context_pairs(body.data["context"], body.where("context"), spec, using))
    if "order_by" in body.data:
        return body.req("order_by", order_by)
    if "fusion" in body.data:
        return Fusion(FusionKind(body.req("fusion", one_of(*(kind.value for kind in FusionKind)))))
    if "rrf" in body.data:
        rrf = body.req("rrf", Obj.of)
        weights = rrf.opt("weights", list_of(number))
        return Fusion(FusionKind.RRF, rrf.opt("k", positive), None if weights is None else tuple(weights))
    if "formula" in body.data:
        return formula(body)
    if "sample" in body.data:
        body.req("sample", one_of("random"))
        return Sample()
    if "relevance_feedback" in body.data:
        return _feedback(body.req("relevance_feedback", Obj.of), spec, using)
    refuse_inference(body)
    raise FormatError(path, "expected a vector, a point id, or one of " + ", ".join(f"`{k}`" for k in _QUERY_KINDS))


def _is_sparse(value: dict[str, Any]) -> bool:
    return "indices" in value and "values" in value


def vector_input(value: Any, path: str, spec: CollectionSpec, using: str) -> VectorInput:
    """Qdrant's VectorInput: dense, sparse or multi vector, or the id of a point to take it from."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        check_vector_name(spec, using)
        return PointRef(point_id(value, path))
    return named_vector(spec, using, value, path)


def _input_reader(spec: CollectionSpec, using: str) -> Any:
    return lambda value, path: vector_input(value, path, spec, using)


def _inputs(body: Obj, key: str, spec: CollectionSpec, using: str) -> tuple[VectorInput, ...]:
    items = body.opt(key, array) or []
    return tuple(vector_input(item, at(body.where(key), i), spec, using) for i, item in enumerate(items))


def _mmr(value: Any, path: str) -> Mmr:
    body = Obj.of(value, path)
    diversity = body.opt("diversity", number)
    if diversity is not None and not 0 <= diversity <= 1:
        raise fail(body.where("diversity"), "a number in [0, 1]", diversity)
    candidates = body.opt("candidates_limit", unsigned)
    if candidates is not None and candidates > MAX_MMR_CANDIDATES:
        raise fail(body.where("candidates_limit"), f"an integer <= {MAX_MMR_CANDIDATES}", candidates)
    return Mmr(diversity, candidates)


def _recommend(body: Obj, spec: CollectionSpec, using: str) -> Recommend:
    strategy = body.opt("strategy", one_of(*(s.value for s in RecommendStrategy)))
    found = Recommend(
        positive=_inputs(body, "positive", spec, using),
        negative=_inputs(body, "negative", spec, using),
        strategy=RecommendStrategy(strategy or RecommendStrategy.AVERAGE_VECTOR.value),
    )
    check_recommend(found, body.path)
    return found


def check_recommend(found: Recommend, path: str) -> None:
    if found.strategy is RecommendStrategy.AVERAGE_VECTOR and not found.positive:
        raise FormatError(path, "Positive vectors should not be empty with `average` strategy")
    if not found.positive and not found.negative:
        raise FormatError(path, "at least one positive or negative example is required")


def _context_pairs(value: Any, path: str, spec: CollectionSpec, using: str) -> tuple[ContextPair, ...]:
    """Qdrant's ContextInput: one pair, a list of pairs, or nothing."""
    if value is None:
        return ()
    items = [value] if isinstance(value, dict) else array(value, path)
    pairs = []
    for i, item in enumerate(items):
        pair = Obj.of(item, path if isinstance(value, dict) else at(path, i))
        pairs.append(ContextPair(pair.req("positive", _input_reader(spec, using)),
                                 pair.req("negative", _input_reader(spec, using))))
    return tuple(pairs)


def _feedback(body: Obj, spec: CollectionSpec, using: str) -> RelevanceFeedback:
    items = []
    for i, item in enumerate(body.req("feedback", array)):
        entry = Obj.of(item, at(body.where("feedback"), i))
        items.append(FeedbackItem(entry.req("example", _input_reader(spec, using)), entry.req("score", number)))
    strategy = body.req("strategy", Obj.of)
    if not strategy.has("naive"):
        raise FormatError(strategy.path, "expected `naive`")
    naive = strategy.req("naive", Obj.of)
    b = naive.req("b", number)
    if b < 0:
        raise FormatError(naive.where("b"), f"expected a number >= 0, got {shown(b)}")
    return RelevanceFeedback(body.req("target", _input_reader(spec, using)), tuple(items),
                             naive.req("a", number), b, naive.req("c", number))


# -- walking a request ------------------------------------------------------------------------

def query_inputs(query: Query | None) -> list[VectorInput]:
    """Every vector input of a query, in a fixed order (how whoever runs it resolves point ids)."""
    match query:
        case Nearest(input=given):
            return [given]
        case Recommend(positive=positive, negative=negative):
            return [*positive, *negative]
        case Discover(target=target, pairs=pairs):
            return [target, *_pair_inputs(pairs)]
        case Context(pairs=pairs):
            return _pair_inputs(pairs)
        case RelevanceFeedback(target=target, feedback=feedback):
            return [target, *(item.example for item in feedback)]
    return []


def _pair_inputs(pairs: tuple[ContextPair, ...]) -> list[VectorInput]:
    return [given for pair in pairs for given in (pair.positive, pair.negative)]


def referenced_collections(stage_: Stage) -> set[str]:
    """Collections (or aliases) other than the searched one that a query reads vectors from."""
    found = set() if stage_.lookup_from is None else {stage_.lookup_from.collection}
    for child in stage_.prefetch:
        found |= referenced_collections(child)
    return found
