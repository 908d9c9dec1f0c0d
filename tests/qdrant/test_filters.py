"""Parsing filters: the typed tree, and malformed filters refused with messages naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from rgw.qdrant.datetimes import Instant
from rgw.qdrant.errors import FormatError, QdrantError, Unsupported
from rgw.qdrant.filters import (
    DatetimeRange,
    FieldCondition,
    Filter,
    HasId,
    IsEmpty,
    MatchAny,
    MatchExcept,
    MatchValue,
    MinShould,
    Nested,
    Range,
    parse_filter,
)
from rgw.qdrant.geo import GeoPoint, GeoRadius
from rgw.qdrant.paths import PayloadKey


def test_absent_filter_is_none() -> None:
    assert parse_filter(None) is None


def test_the_typed_tree_keeps_what_the_json_says() -> None:
    parsed = parse_filter({
        "must": {"key": "city", "match": {"value": "London"}},
        "should": [],
        "must_not": [{"has_id": [3, "936DA01F-9ABD-4D9D-80C7-02AF85C822A8"]}, {"is_empty": {"key": "tags"}}],
        "min_should": {"min_count": 1, "conditions": [
            {"key": "n", "range": {"gte": 1, "lt": 2.5}},
            {"key": "at", "range": {"gt": "2024-01-01"}},
            {"nested": {"key": "items", "filter": {"must": [{"key": "k", "match": {"except": [1, 2]}}]}}},
            {"key": "loc", "geo_radius": {"center": {"lon": 1, "lat": 2}, "radius": 10}},
            {"must": [{"key": "t", "match": {"any": ["a"]}}]},
        ]},
    })
    assert isinstance(parsed, Filter)
    [city] = parsed.must or ()
    assert isinstance(city, FieldCondition) and city.key.text == "city" and city.match == MatchValue("London")
    assert parsed.should == ()
    assert parsed.must_not == (HasId(frozenset({3, "936da01f-9abd-4d9d-80c7-02af85c822a8"})),
                               IsEmpty(PayloadKey("tags", ("tags",))))
    assert isinstance(parsed.min_should, MinShould) and parsed.min_should.min_count == 1
    numeric, dated, nested, geo, inner = parsed.min_should.conditions
    assert isinstance(numeric, FieldCondition) and numeric.range == Range(gte=1.0, lt=2.5)
    assert isinstance(dated, FieldCondition)
    assert dated.range == DatetimeRange(gt=Instant("2024-01-01", 1704067200_000000))
    assert isinstance(nested, Nested) and nested.key.text == "items"
    [except_] = nested.filter.must or ()
    assert isinstance(except_, FieldCondition) and except_.match == MatchExcept((1, 2))
    assert isinstance(geo, FieldCondition) and geo.geo_radius == GeoRadius(GeoPoint(1.0, 2.0), 10.0)
    assert inner == Filter(must=(FieldCondition(PayloadKey("t", ("t",)), match=MatchAny(("a",))),))


def test_parsed_filters_are_hashable() -> None:
    # Frozen all the way down, so a gateway can cache a compiled predicate by its filter.
    body = {"must": [{"key": "a", "match": {"any": [1]}}, {"has_id": [1]}]}
    assert hash(parse_filter(body)) == hash(parse_filter(body))


BAD_FILTERS: list[tuple[Any, type[QdrantError], str]] = [
    ({"must": [{"key": "a"}]}, FormatError, "filter.must[0]: at least one field condition must be specified"),
    ({"must": [{"key": "a", "match": {"value": 1.5}}]}, FormatError,
     "Format error in JSON body: filter.must[0].match.value: expected an integer, got 1.5"),
    ({"must": [{"key": "a", "range": {"gt": "soon"}}]}, FormatError,
     'filter.must[0].range: invalid datetime in `gt`: "soon"'),
    ({"must": [{"key": "a", "range": {"gt": "2024-01-01", "lt": 3}}]}, FormatError,
     'filter.must[0].range.gt: expected a number, got "2024-01-01"'),
    ({"mast": []}, FormatError, "filter: unknown field `mast`"),
    ({"must": [{"wat": 1}]}, FormatError, "filter.must[0]: expected a condition"),
    ({"must": [{"key": "a b", "match": {"value": 1}}]}, FormatError, "filter.must[0].key: expected a payload key"),
    ({"should": [{"is_empty": {"key": "a..b"}}]}, FormatError, "filter.should[0].is_empty.key: expected a payload key"),
    ({"must": [{"key": "a", "match": {"any": ["x", 2]}}]}, FormatError,
     'filter.must[0].match.any[0]: expected an integer, got "x"'),
    ({"must": [{"key": "a", "match": {"nope": 1}}]}, FormatError, "filter.must[0].match: expected one of `value`"),
    ({"must": [{"has_id": [-1]}]}, FormatError, "filter.must[0].has_id[0]: value -1 is not a valid point ID"),
    ({"must": [{"has_id": ["not-a-uuid"]}]}, FormatError, "filter.must[0].has_id[0]"),
    ({"must": [{"key": "g", "geo_radius": {"center": {"lon": 200, "lat": 0}, "radius": 5}}]}, FormatError,
     "filter.must[0].geo_radius.center: expected lon in [-180, 180] and lat in [-90, 90]"),
    ({"must": [{"key": "g", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}] * 3}}}]}, FormatError,
     "filter.must[0].geo_polygon.exterior: Validation failed: polygon invalid, the size must be at least 4, got 3"),
    ({"must": [{"key": "g", "geo_polygon": {"exterior": {"points": [
        {"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 1}]}}}]}, FormatError,
     "filter.must[0].geo_polygon.exterior: Validation failed: polygon invalid, the first and the last points"),
    ({"must": [{"key": "c", "values_count": {"gt": -1}}]}, FormatError,
     "filter.must[0].values_count.gt: expected an unsigned integer"),
    ({"min_should": {"conditions": []}}, FormatError, "filter.min_should: missing field `min_count`"),
    ({"min_should": {"conditions": [], "min_count": 0}}, FormatError,
     "filter.min_should.min_count: expected an integer >= 1"),
    ({"must": [{"nested": {"key": "items"}}]}, FormatError, "filter.must[0].nested: missing field `filter`"),
    ({"must": [{"slice": {"total": 2}}]}, Unsupported, "filter.must[0]: slice condition"),
    ([], FormatError, "filter: expected an object"),
]


@pytest.mark.parametrize(("body", "error", "text"), BAD_FILTERS)
def test_malformed_filters_name_the_field(body: Any, error: type[QdrantError], text: str) -> None:
    with pytest.raises(error) as raised:
        parse_filter(body)
    assert text in raised.value.message


def test_filters_nested_too_deeply_are_refused() -> None:
    body: Any = {"has_id": [1]}
    for _ in range(400):
        body = {"must": body}
    with pytest.raises(FormatError, match="filter: filter nested too deeply"):
        parse_filter(body)
