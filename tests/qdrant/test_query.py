"""The Query API grammar shared by the store and the gateway: what each body parses into, what
is refused (naming the field), legacy bodies read as their Query API equivalents, formulas,
alias actions and vector-name configs."""

from __future__ import annotations

from typing import Any

import pytest

from rgw.qdrant import legacy
from rgw.qdrant.aliases import CreateAlias, DeleteAlias, RenameAlias, alias_changes, apply_alias_changes
from rgw.qdrant.collection import CollectionSpec, VectorConfig, vector_config
from rgw.qdrant.errors import BadRequest, FormatError, NotFound, QdrantError, Unsupported, WrongInput
from rgw.qdrant.formula import (
    ConditionExpression,
    Constant,
    Decay,
    DecayKind,
    Div,
    Formula,
    Nary,
    NaryOp,
    PayloadVariable,
    ScoreVariable,
    Unary,
    UnaryOp,
)
from rgw.qdrant.paths import payload_key
from rgw.qdrant.query import (
    Context,
    ContextPair,
    Discover,
    FeedbackItem,
    Fusion,
    FusionKind,
    LookupLocation,
    Mmr,
    Nearest,
    PointRef,
    QueryRequest,
    Recommend,
    RecommendStrategy,
    RelevanceFeedback,
    Sample,
    groups_request,
    matrix_request,
    query_batch,
    query_inputs,
    query_request,
    referenced_collections,
)
from rgw.qdrant.selectors import Direction, OrderBy, PayloadSelection
from rgw.qdrant.vectors import SparseVector
from rgw.qdrant.writes import parse_write

SPEC = CollectionSpec.parse({"vectors": {"d": {"size": 3, "distance": "Cosine"},
                                         "m": {"size": 2, "distance": "Dot",
                                               "multivector_config": {"comparator": "max_sim"}}},
                             "sparse_vectors": {"s": {}}})
UNNAMED = CollectionSpec.parse({"vectors": {"size": 2, "distance": "Dot"}})
UUID = "936da01f-9abd-4d9d-80c7-02af85c822a8"


def query_of(body: dict[str, Any], spec: CollectionSpec = SPEC) -> Any:
    return query_request(body, spec).stage.query


QUERIES: list[tuple[dict[str, Any], Any]] = [
    ({"query": [1, 0, 0], "using": "d"}, Nearest([1, 0, 0])),
    ({"query": 7, "using": "d"}, Nearest(PointRef(7))),
    ({"query": UUID.upper(), "using": "d"}, Nearest(PointRef(UUID))),
    ({"query": {"indices": [3], "values": [0.5]}, "using": "s"}, Nearest(SparseVector([3], [0.5]))),
    ({"query": {"nearest": [[1, 2]], "mmr": {"diversity": 0.2, "candidates_limit": 50}}, "using": "m"},
     Nearest([[1, 2]], Mmr(0.2, 50))),
    ({"query": {"recommend": {"positive": [1, [0, 1, 0]], "negative": [2]}}, "using": "d"},
     Recommend((PointRef(1), [0, 1, 0]), (PointRef(2),), RecommendStrategy.AVERAGE_VECTOR)),
    ({"query": {"recommend": {"negative": [2], "strategy": "best_score"}}, "using": "d"},
     Recommend((), (PointRef(2),), RecommendStrategy.BEST_SCORE)),
    ({"query": {"discover": {"target": 1, "context": {"positive": 2, "negative": 3}}}, "using": "d"},
     Discover(PointRef(1), (ContextPair(PointRef(2), PointRef(3)),))),
    ({"query": {"discover": {"target": 1, "context": None}}, "using": "d"}, Discover(PointRef(1), ())),
    ({"query": {"context": [{"positive": 2, "negative": 3}]}, "using": "d"},
     Context((ContextPair(PointRef(2), PointRef(3)),))),
    ({"query": {"fusion": "dbsf"}, "prefetch": {"query": [1, 0, 0], "using": "d"}}, Fusion(FusionKind.DBSF)),
    ({"query": {"rrf": {"k": 60, "weights": [2, 1]}}, "prefetch": [{"query": 1, "using": "d"}]},
     Fusion(FusionKind.RRF, 60, (2.0, 1.0))),
    ({"query": {"order_by": {"key": "a.b", "direction": "desc", "start_from": "2024-01-01"}}},
     OrderBy(key=payload_key("a.b", ""), direction=Direction.DESC,
             start_from="2024-01-01")),
    ({"query": {"sample": "random"}}, Sample()),
    ({"query": {"relevance_feedback": {"target": 1, "feedback": [{"example": 2, "score": 0.5}],
                                       "strategy": {"naive": {"a": 1, "b": 0, "c": -1}}}}, "using": "d"},
     RelevanceFeedback(PointRef(1), (FeedbackItem(PointRef(2), 0.5),),
                       1.0, 0.0, -1.0)),
    ({}, None),
]


@pytest.mark.parametrize(("body", "expected"), QUERIES)
def test_queries_parse(body: dict[str, Any], expected: Any) -> None:
    assert query_of(body) == expected


def test_a_request_is_a_tree_of_stages() -> None:
    request = query_request({
        "prefetch": [{"prefetch": {"query": 5, "using": "d", "lookup_from": {"collection": "other"}, "limit": 50},
                      "query": [1, 0, 0], "using": "d", "limit": 20,
                      "filter": {"must": [{"key": "a", "match": {"value": 1}}]}, "score_threshold": 0.5},
                     {"query": {"indices": [1], "values": [1]}, "using": "s"}],
        "query": {"fusion": "rrf"}, "limit": 4, "offset": 2, "with_payload": {"exclude": ["big"]},
        "with_vector": ["d"],
    }, SPEC)
    assert isinstance(request, QueryRequest)
    assert (request.stage.limit, request.offset, request.with_vector) == (4, 2, ("d",))
    assert request.with_payload == PayloadSelection((payload_key("big", ""),),
                                                    include=False)
    first, second = request.stage.prefetch
    assert (first.limit, first.score_threshold, first.filter is not None) == (20, 0.5, True)
    assert first.prefetch[0].lookup_from == LookupLocation("other")
    assert first.prefetch[0].lookup_vector == "d"
    assert second.limit == 10  # Qdrant's default
    assert referenced_collections(request.stage) == {"other"}
    assert query_inputs(first.prefetch[0].query) == [PointRef(5)]


BAD: list[tuple[dict[str, Any], type[QdrantError], str]] = [
    ({"query": [1, 0], "using": "d"}, WrongInput, "Vector dimension error: expected dim: 3, got 2"),
    ({"query": [1, 0, 0], "using": "x"}, WrongInput, "Not existing vector name error: x"),
    ({"query": 1, "using": "x"}, WrongInput, "Not existing vector name error: x"),
    ({"query": -1, "using": "d"}, FormatError, "query: value -1 is not a valid point ID"),
    ({"query": {"nearest": [1, 0, 0], "mmr": {"candidates_limit": 20000}}, "using": "d"}, FormatError,
     "query.mmr.candidates_limit: expected an integer <= 16384"),
    ({"query": {"recommend": {"positive": ["nope"]}}, "using": "d"}, FormatError,
     "query.recommend.positive[0]: value \"nope\" is not a valid point ID"),
    ({"query": {"discover": {"context": []}}, "using": "d"}, FormatError, "query.discover: missing field `target`"),
    ({"query": {"context": [{"positive": 1}]}, "using": "d"}, FormatError,
     "query.context[0]: missing field `negative`"),
    ({"query": {"wat": 1}}, FormatError, "query: expected a vector, a point id, or one of `nearest`"),
    ({"query": {"text": "hello", "model": "bm25"}, "using": "d"}, Unsupported, "inference objects"),
    ({"prefetch": [{"query": [1, 0, 0], "using": "d"}]}, BadRequest, "A query is needed to merge the prefetches"),
    ({"prefetch": {"prefetch": {"query": [1, 0, 0], "using": "d"}}, "query": {"fusion": "rrf"}}, BadRequest,
     "A query is needed to merge the prefetches. Can't have prefetches without defining a query. (prefetch)"),
    ({"query": {"order_by": "n"}, "score_threshold": 1}, BadRequest, "Can't use score_threshold"),
    ({"query": {"fusion": "rrf"}, "using": "d"}, BadRequest, "Fusion queries cannot be combined"),
    ({"query": [1, 0, 0], "using": "d", "lookup_from": {"vector": "d"}}, FormatError,
     "lookup_from: missing field `collection`"),
    ({"query": [1, 0, 0], "using": "d", "lookup_from": {"collection": "o", "shard_key": "a"}}, Unsupported,
     "shard keys"),
    ({"query": [1, 0, 0], "using": "d", "offset": -1}, FormatError, "offset: expected an unsigned integer"),
    ({"query": [1, 0, 0], "using": "d", "with_vector": ["x"]}, WrongInput, "Not existing vector name error: x"),
    ({"query": [1, 0, 0], "using": "d", "params": {"hnsw_ef": 0}}, FormatError, "params.hnsw_ef"),
]


@pytest.mark.parametrize(("body", "error", "text"), BAD)
def test_bad_queries_are_refused_naming_the_field(body: dict[str, Any], error: type[QdrantError], text: str) -> None:
    with pytest.raises(error) as refused:
        query_request(body, SPEC)
    assert text in refused.value.message


def test_batch_groups_and_matrix_bodies() -> None:
    assert [r.stage.limit for r in query_batch({"searches": [{"limit": 1}, {}]}, SPEC)] == [1, 10]
    with pytest.raises(FormatError, match=r"searches\[1\]\.limit"):
        query_batch({"searches": [{}, {"limit": 0}]}, SPEC)
    groups = groups_request({"query": [1, 0], "group_by": "doc.id", "with_lookup": "docs"}, UNNAMED)
    assert (groups.group_by.text, groups.group_size, groups.limit) == ("doc.id", 3, 10)
    assert groups.with_lookup is not None and groups.with_lookup.collection == "docs"
    assert groups.with_lookup.with_payload is True and groups.with_lookup.with_vector is False
    groups = groups_request({"group_by": "g", "with_lookup": {"collection": "x", "with_payload": ["a"],
                                                              "with_vectors": True}}, UNNAMED)
    assert groups.with_lookup is not None and groups.with_lookup.with_vector is True
    matrix = matrix_request({"using": "d", "sample": 5}, SPEC)
    assert (matrix.sample, matrix.limit, matrix.using, matrix.filter) == (5, 3, "d", None)


def test_legacy_bodies_read_as_query_api_requests() -> None:
    search = legacy.search({"vector": {"name": "s", "vector": {"indices": [1], "values": [2]}}, "limit": 3,
                            "offset": 1, "with_payload": True}, SPEC)
    assert (search.stage.query, search.stage.using, search.stage.limit, search.offset, search.with_payload) == (
        Nearest(SparseVector([1], [2.0])), "s", 3, 1, True)
    assert legacy.search({"vector": [1, 2], "limit": 1}, UNNAMED).stage.query == Nearest([1, 2])
    recommend = legacy.recommend({"positive": [1], "negative": [[0, 0, 1]], "strategy": "sum_scores",
                                  "using": "d", "limit": 2, "lookup_from": {"collection": "c"}}, SPEC)
    assert recommend.stage.query == Recommend((PointRef(1),), ([0, 0, 1],), RecommendStrategy.SUM_SCORES)
    assert recommend.stage.lookup_from == LookupLocation("c")
    discover = legacy.discover({"target": 1, "context": [{"positive": 2, "negative": 3}], "using": "d",
                                "limit": 2}, SPEC)
    assert discover.stage.query == Discover(PointRef(1), (ContextPair(PointRef(2), PointRef(3)),))
    context = legacy.discover({"context": [{"positive": 2, "negative": 3}], "using": "d", "limit": 2}, SPEC)
    assert context.stage.query == Context((ContextPair(PointRef(2), PointRef(3)),))
    groups = legacy.recommend_groups({"positive": [1], "using": "d", "group_by": "g", "group_size": 2,
                                      "limit": 4}, SPEC)
    assert (groups.group_size, groups.limit) == (2, 4)
    batch = legacy.batch(legacy.search)({"searches": [{"vector": [1, 2], "limit": 1}]}, UNNAMED)
    assert len(batch) == 1
    for body, text in [({"vector": [1, 2]}, "missing field `limit`"),
                       ({"positive": [], "limit": 1}, "Positive vectors should not be empty"),
                       ({"using": "d", "limit": 1}, "a `target` or at least one `context` pair is required")]:
        read = legacy.search if "vector" in body else legacy.recommend if "positive" in body else legacy.discover
        with pytest.raises(FormatError, match=text):
            read(body, UNNAMED if read is legacy.search else SPEC)
    with pytest.raises(FormatError, match="missing field `group_size`"):
        legacy.search_groups({"vector": [1, 2], "group_by": "g", "limit": 1}, UNNAMED)


def formula_of(expression: Any, defaults: dict[str, Any] | None = None) -> Formula:
    body = {"prefetch": {"query": [1, 0, 0], "using": "d"}, "query": {"formula": expression}}
    if defaults is not None:
        body["query"]["defaults"] = defaults
    query = query_of(body)
    assert isinstance(query, Formula)
    return query


def test_formulas_parse_into_expression_trees() -> None:
    formula = formula_of({"sum": ["$score", {"mult": [2, "$score[1]"]}, {"neg": "price"},
                                  {"div": {"left": 1, "right": "n", "by_zero_default": 0}},
                                  {"key": "tag", "match": {"value": "x"}},
                                  {"exp_decay": {"x": "age", "target": 3, "scale": 2, "midpoint": 0.4}}]},
                         {"price": 1})
    key = payload_key
    first, second, third, fourth, fifth, sixth = formula.expression.args  # type: ignore[union-attr]
    assert formula.defaults == {"price": 1}
    assert first == ScoreVariable(0) and first.text == "$score"
    assert second == Nary(NaryOp.MULT, (Constant(2.0), ScoreVariable(1)))
    assert third == Unary(UnaryOp.NEG, PayloadVariable(key("price", "")))
    assert fourth == Div(Constant(1.0), PayloadVariable(key("n", "")), 0.0)
    assert isinstance(fifth, ConditionExpression)
    assert sixth == Decay(DecayKind.EXP, PayloadVariable(key("age", "")), Constant(3.0), 2.0, 0.4)


@pytest.mark.parametrize(("expression", "text"), [
    ({"sum": "x"}, "query.formula.sum: expected an array"),
    ("$scores", "query.formula: expected `$score`, `$score[<prefetch index>]` or a payload key"),
    ({"gauss_decay": {"x": 1, "midpoint": 1}}, "query.formula.gauss_decay.midpoint: the midpoint must be"),
    ({"lin_decay": {"target": 1}}, "query.formula.lin_decay: missing field `x`"),
    ({"pow": {"base": 2}}, "query.formula.pow: missing field `exponent`"),
    ({"geo_distance": {"origin": {"lon": 200, "lat": 0}, "to": "loc"}}, "query.formula.geo_distance.origin"),
    ({"datetime_key": "a..b"}, "query.formula.datetime_key: expected a payload key"),
    ({"nonsense": [1]}, "query.formula: expected an expression"),
])
def test_bad_formulas_name_the_field(expression: Any, text: str) -> None:
    with pytest.raises(FormatError) as refused:
        formula_of(expression)
    assert text in refused.value.message
    with pytest.raises(FormatError, match=r"query\.defaults\.\$nope"):
        formula_of("$score", {"$nope": 1})


def test_alias_actions_apply_all_or_nothing() -> None:
    actions = alias_changes({"actions": [{"create_alias": {"alias_name": "a", "collection_name": "c1"}},
                                         {"rename_alias": {"old_alias_name": "a", "new_alias_name": "b"}},
                                         {"delete_alias": {"alias_name": "gone"}}]})
    assert actions == (CreateAlias("a", "c1"), RenameAlias("a", "b"), DeleteAlias("gone"))
    collections = {"c1", "c2"}
    assert apply_alias_changes({}, actions, collections.__contains__) == {"b": "c1"}
    table = {"live": "c1"}
    switch = alias_changes({"actions": [{"delete_alias": {"alias_name": "live"}},
                                        {"create_alias": {"alias_name": "live", "collection_name": "c2"}}]})
    assert apply_alias_changes(table, switch, collections.__contains__) == {"live": "c2"}
    assert table == {"live": "c1"}  # the caller's table is not touched
    with pytest.raises(NotFound, match="Collection `c3` doesn't exist!"):
        apply_alias_changes(table, (CreateAlias("x", "c3"),), collections.__contains__)
    with pytest.raises(BadRequest, match="Collection `c2` already exists!"):
        apply_alias_changes(table, (CreateAlias("c2", "c1"),), collections.__contains__)
    with pytest.raises(NotFound, match="Alias nope does not exists!"):
        apply_alias_changes(table, (RenameAlias("nope", "x"),), collections.__contains__)
    with pytest.raises(FormatError, match=r"actions\[0\]: expected one of"):
        alias_changes({"actions": [{}]})
    assert parse_write("update_aliases", {"actions": []}, None) == ()


def test_vector_configs_and_spec_changes() -> None:
    assert vector_config({"dense": {"size": 4, "distance": "Dot", "datatype": "float16"}}) == VectorConfig(
        False, {"size": 4, "distance": "Dot", "datatype": "float16"})
    assert vector_config({"sparse": {"modifier": "idf"}}) == VectorConfig(True, {"modifier": "idf"})
    assert parse_write("create_vector_name", {"sparse": {}}, None) == VectorConfig(True, {})
    assert parse_write("delete_vector_name", None, None) is None
    for body, text in [({"dense": {"size": 4}}, "dense: missing field `distance`"),
                       ({"dense": {"size": 4, "distance": "Dot", "on_disk": True}}, "dense: unknown field `on_disk`"),
                       ({}, "expected `dense` or `sparse`")]:
        with pytest.raises(FormatError, match=text):
            vector_config(body)

    grown = UNNAMED.with_vector("img", vector_config({"dense": {"size": 3, "distance": "Euclid"}}))
    assert set(grown.dense) == {"", "img"} and not grown.unnamed
    assert grown.config_json()["params"]["vectors"]["img"] == {"size": 3, "distance": "Euclid"}
    assert grown.with_vector("img", vector_config({"dense": {"size": 3, "distance": "Euclid"}})) is grown
    with pytest.raises(WrongInput, match="already exists with different parameters"):
        grown.with_vector("img", vector_config({"sparse": {}}))
    sparse = grown.with_vector("kw", vector_config({"sparse": {"modifier": "idf"}}))
    assert sparse.sparse["kw"].idf and sparse.config_json()["params"]["sparse_vectors"] == {"kw": {"modifier": "idf"}}
    assert set(sparse.without_vector("img").dense) == {""}
    assert sparse.without_vector("nothing") is sparse
    with pytest.raises(Unsupported, match="collections without vectors"):
        UNNAMED.without_vector("")
    # What a change makes is what a reload of its create body makes.
    assert CollectionSpec.parse(sparse.source) == sparse
