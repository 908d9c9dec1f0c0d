"""The filter evaluator against the engine as reference: for every filter, the points `evaluate`
selects are exactly the points a real region store's `points/scroll` returns."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from rgw.qdrant.evaluate import CannotEvaluate, evaluate, predicate
from rgw.qdrant.filters import parse_filter
from tests.qdrant import corpus

if TYPE_CHECKING:
    from tests.qdrant.conftest import Reference

COLLECTION = "evaluator"
POINTS = corpus.points(random.Random(20240601), 300)
UUIDS = [pid for pid, _ in POINTS if isinstance(pid, str)]

EngineIds = Callable[[dict[str, Any]], set[int | str]]


@pytest.fixture(scope="module")
def engine_ids(reference: Reference) -> EngineIds:
    reference.call("PUT", f"/collections/{COLLECTION}", {"vectors": {"size": 1, "distance": "Dot"}})
    points = [{"id": pid, "vector": [1.0], "payload": payload} for pid, payload in POINTS]
    reference.call("PUT", f"/collections/{COLLECTION}/points?wait=true", {"points": points})

    def scroll(filter_json: dict[str, Any]) -> set[int | str]:
        body = {"filter": filter_json, "limit": len(POINTS) + 1, "with_payload": False}
        result = reference.call("POST", f"/collections/{COLLECTION}/points/scroll", body)
        assert result["next_page_offset"] is None
        return {point["id"] for point in result["points"]}

    return scroll


def selected(filter_json: dict[str, Any]) -> set[int | str]:
    parsed = parse_filter(filter_json)
    assert parsed is not None
    check = predicate(parsed)
    return {pid for pid, payload in POINTS if check(pid, payload)}


def field(key: str, **checks: Any) -> dict[str, Any]:
    return {"key": key, **checks}


def must(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"must": list(conditions)}


def ring(*corners: tuple[float, float]) -> dict[str, Any]:
    return {"points": [{"lon": lon, "lat": lat} for lon, lat in (*corners, corners[0])]}


SQUARE = ring((-10, -10), (10, -10), (10, 10), (-10, 10))
HOLE = ring((-5, -5), (5, -5), (5, 5), (-5, 5))

HAND_WRITTEN = {
    # match.value: strings, integers (never floats or booleans), booleans (never 0 or 1)
    "match-string": must(field("s", match={"value": "red"})),
    "match-string-case": must(field("s", match={"value": "Red"})),
    "match-empty-string": must(field("s", match={"value": ""})),
    "match-int": must(field("i", match={"value": 1})),
    "match-int-negative": must(field("i", match={"value": -2})),
    "match-bool-true": must(field("b", match={"value": True})),
    "match-bool-false": must(field("b", match={"value": False})),
    "match-int-on-bools": must(field("b", match={"value": 1})),
    "match-in-array": must(field("tags", match={"value": "blue"})),
    "match-beyond-i64": must(field("i", match={"value": 2**63 - 1})),
    # match.any / match.except
    "any-strings": must(field("tags", match={"any": ["red", "blue"]})),
    "any-ints": must(field("i", match={"any": [1, 2]})),
    "any-empty": must(field("s", match={"any": []})),
    "except-strings": must(field("s", match={"except": ["red", "green"]})),
    "except-ints": must(field("i", match={"except": [1, -1]})),
    "except-empty": must(field("mixed", match={"except": []})),
    "except-on-arrays": must(field("tags", match={"except": ["red"]})),
    "except-nested-arrays": must(field("mixed", match={"except": [1]})),
    "must-not-except": {"must_not": [field("s", match={"except": ["red"]})]},
    "prefix": must(field("s", match={"prefix": "re"})),
    "prefix-empty": must(field("tags", match={"prefix": ""})),
    "prefix-unicode": must(field("tags", match={"prefix": "ü"})),
    # range: numbers (not booleans) and datetimes
    "range-int": must(field("i", range={"gte": 0, "lt": 2})),
    "range-float": must(field("f", range={"gt": -1.5, "lte": 2.5})),
    "range-array": must(field("nums", range={"gte": 1})),
    "range-on-bools": must(field("b", range={"gte": 0.5})),
    "range-unbounded": must(field("mixed", range={})),
    "range-u64": must(field("i", range={"gt": 2**62})),
    "datetime-gte": must(field("when", range={"gte": "2024-01-01T00:00:00Z"})),
    "datetime-microseconds": must(field("when", range={"gt": "2024-01-01T00:00:00Z"})),
    "datetime-offset": must(field("when", range={"lt": "2024-03-10T11:00:00+01:00"})),
    "datetime-date-only": must(field("when", range={"lte": "2024-01-05"})),
    "datetime-lenient-bound": must(field("when[]", range={"gte": " 2024-1-5 0:0"})),
    "datetime-on-numbers": must(field("mixed", range={"gte": "2023-01-01"})),
    # geo
    "geo-radius": must(field("loc", geo_radius={"center": {"lon": 0, "lat": 0}, "radius": 1_500_000})),
    "geo-bbox": must(field("loc", geo_bounding_box={"top_left": {"lon": -10, "lat": 10},
                                                     "bottom_right": {"lon": 15, "lat": -5}})),
    "geo-bbox-antimeridian": must(field("loc", geo_bounding_box={"top_left": {"lon": 177, "lat": 15},
                                                                  "bottom_right": {"lon": -178, "lat": -15}})),
    "geo-polygon": must(field("loc", geo_polygon={"exterior": SQUARE})),
    "geo-polygon-hole": must(field("loc", geo_polygon={"exterior": SQUARE, "interiors": [HOLE]})),
    # values_count: arrays count elements, null 0, anything else 1
    "count-gte-2": must(field("tags", values_count={"gte": 2})),
    "count-lt-1": must(field("nums", values_count={"lt": 1})),
    "count-scalar": must(field("i", values_count={"gt": 1})),
    "count-missing": must(field("missing", values_count={"lte": 0})),
    "count-wildcard": must(field("items[].w", values_count={"gte": 2})),
    "count-flattened": must(field("items[].w[]", values_count={"lt": 1})),
    # is_empty / is_null, as conditions and as field checks
    "is-empty": must({"is_empty": {"key": "tags"}}),
    "is-empty-null": must({"is_empty": {"key": "n"}}),
    "is-empty-wildcard": must({"is_empty": {"key": "items[].k"}}),
    "is-empty-mixed": must({"is_empty": {"key": "mixed"}}),
    "is-null": must({"is_null": {"key": "mixed"}}),
    "is-null-in-array": must({"is_null": {"key": "nums"}}),
    "is-null-wildcard": must({"is_null": {"key": "items[].deep.a"}}),
    "field-is-empty": must(field("obj.z", is_empty=True)),
    "field-is-not-empty": must(field("items[].w", is_empty=False)),
    "field-is-null": must(field("obj.x", is_null=True)),
    "field-is-not-null": must(field("mixed", is_null=False)),
    "checks-count-wins": must(field("i", values_count={"gte": 1}, match={"value": 1})),
    "checks-empty-wins": must(field("s", is_empty=True, is_null=True)),
    "checks-empty-over-match": must(field("s", is_empty=False, match={"value": "red"})),
    "checks-or": must(field("i", match={"value": 2}, range={"lt": -1})),
    # ids
    "has-id-ints": must({"has_id": [0, 1, 2, 5, 8, 13, 10_000]}),
    "has-id-uuids": must({"has_id": [UUIDS[0].upper(), UUIDS[1].replace("-", ""), UUIDS[2]]}),
    "has-id-excluded": {"must_not": [{"has_id": [0, UUIDS[0]]}]},
    # nested
    "nested": must({"nested": {"key": "items", "filter": must(field("k", match={"value": "red"}))}}),
    "nested-pairs": must({"nested": {"key": "items", "filter": must(field("k", match={"value": "blue"}),
                                                                    field("v", range={"gte": 2}))}}),
    "nested-must-not": must({"nested": {"key": "items[]", "filter": {"must_not": [field("v", match={"value": 0})]}}}),
    "nested-deep": must({"nested": {"key": "items", "filter": must({"is_null": {"key": "deep.a"}})}}),
    "nested-object": must({"nested": {"key": "obj", "filter": must(field("x", range={"gte": -3}))}}),
    "nested-has-id": must({"nested": {"key": "items", "filter": must({"has_id": [0, 1, 2, 3, 4]})}}),
    "nested-has-vector": must({"nested": {"key": "items", "filter": {"must_not": [{"has_vector": ""}]}}}),
    "nested-empty-should": must({"nested": {"key": "items", "filter": {"should": []}}}),
    # keys
    "index-path": must(field("items[0].v", match={"any": [1, 2]})),
    "wildcard-path": must(field("obj.z[]", match={"value": 0})),
    "object-path": must(field("obj.x", range={"gte": 0})),
    "no-array-traversal": must(field("items.k", match={"value": "red"})),
    "quoted-key": must(field('"odd.key"', match={"value": "red"})),
    # clauses
    "empty-should": {"should": []},
    "empty-should-with-must": {"should": [], "must": [field("s", match={"value": "red"})]},
    "empty-must": {"must": []},
    "should": {"should": [field("s", match={"value": "red"}), field("i", match={"value": 1})]},
    "min-should": {"min_should": {"min_count": 2, "conditions": [
        field("s", match={"value": "red"}), field("i", range={"gte": 0}), {"is_empty": {"key": "tags"}}]}},
    "min-should-none": {"min_should": {"min_count": 1, "conditions": []}},
    "single-condition-clause": {"must": field("s", match={"value": "blue"})},
    "nested-filters": {"must": [{"should": [field("s", match={"value": "red"}), {"must_not": [
        {"is_empty": {"key": "tags"}}]}]}], "must_not": [{"must": [field("i", range={"lt": 0})]}]},
}


@pytest.mark.parametrize("filter_json", HAND_WRITTEN.values(), ids=HAND_WRITTEN.keys())
def test_hand_written_filters_select_what_the_engine_selects(engine_ids: EngineIds,
                                                            filter_json: dict[str, Any]) -> None:
    assert selected(filter_json) == engine_ids(filter_json)


def test_hand_written_filters_are_not_vacuous(engine_ids: EngineIds) -> None:
    """Most cases must separate the points, or agreeing on them would prove little."""
    sizes = [len(engine_ids(filter_json)) for filter_json in HAND_WRITTEN.values()]
    assert sum(0 < size < len(POINTS) for size in sizes) >= 0.8 * len(sizes)


def test_random_filters_select_what_the_engine_selects(engine_ids: EngineIds) -> None:
    rng = random.Random(7)
    ids = [pid for pid, _ in POINTS]
    mismatches = []
    for _ in range(300):
        filter_json = corpus.random_filter(rng, ids)
        if selected(filter_json) != engine_ids(filter_json):
            mismatches.append(filter_json)
    assert not mismatches, f"{len(mismatches)} of 300 differ, e.g. {json.dumps(mismatches[0])}"


def test_ids_compare_canonically() -> None:
    point = uuid.uuid4()
    parsed = parse_filter(must({"has_id": [point.hex.upper()]}))
    assert parsed is not None
    assert evaluate(parsed, point, {})
    assert evaluate(parsed, str(point).upper(), {})
    assert not evaluate(parsed, 5, {})


@pytest.mark.parametrize(("filter_json", "where"), [
    (must(field("title", match={"text": "space opera"})), "filter.must[0].match"),
    ({"should": [field("a", match={"value": 1}), field("title", match={"text_any": "space opera"})]},
     "filter.should[1].match"),
    (must({"must_not": [field("title", match={"phrase": "space opera"})]}), "filter.must[0].must_not[0].match"),
    (must({"has_vector": "image"}), "filter.must[0]"),
    ({"min_should": {"min_count": 1, "conditions": [{"has_vector": ""}]}}, "filter.min_should.conditions[0]"),
    (must({"nested": {"key": "items", "filter": must(field("k", match={"text": "x"}))}}),
     "filter.must[0].nested.filter.must[0].match"),
])
def test_text_matches_and_has_vector_cannot_be_evaluated(filter_json: dict[str, Any], where: str) -> None:
    parsed = parse_filter(filter_json)
    assert parsed is not None
    with pytest.raises(CannotEvaluate) as raised:
        predicate(parsed)
    assert raised.value.path == where
    with pytest.raises(CannotEvaluate):
        evaluate(parsed, 1, {"title": "space opera"})


def test_a_text_match_that_is_never_consulted_evaluates() -> None:
    # `values_count` alone decides a field condition, so the text match does not matter.
    parsed = parse_filter(must(field("title", values_count={"gte": 1}, match={"text": "opera"})))
    assert parsed is not None
    assert evaluate(parsed, 1, {"title": "anything"})
    assert not evaluate(parsed, 1, {})
