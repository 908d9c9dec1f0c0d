"""Qdrant's JSON filters, parsed into a typed tree of frozen dataclasses.

Follows the `Filter` / `Condition` schemas of Qdrant's OpenAPI spec. Anything malformed raises
FormatError naming the field (`filter.must[0].match: ...`). `rgw.qdrant.evaluate` decides which
points a tree selects; the region store turns the tree into engine filters.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from rgw.qdrant.datetimes import Instant, timestamp
from rgw.qdrant.errors import FormatError, Unsupported
from rgw.qdrant.fields import (
    Obj,
    PointId,
    array,
    at,
    boolean,
    fail,
    integer,
    list_of,
    number,
    point_id,
    positive,
    shown,
    string,
    unsigned,
)
from rgw.qdrant.geo import GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius
from rgw.qdrant.paths import PayloadKey, payload_key


@dataclass(frozen=True)
class MatchValue:
    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    values: tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True)
class MatchExcept:
    values: tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True)
class MatchText:
    text: str


@dataclass(frozen=True)
class MatchTextAny:
    text: str


@dataclass(frozen=True)
class MatchPhrase:
    text: str


@dataclass(frozen=True)
class MatchPrefix:
    prefix: str


Match = MatchValue | MatchAny | MatchExcept | MatchText | MatchTextAny | MatchPhrase | MatchPrefix


@dataclass(frozen=True)
class Range:
    lt: float | None = None
    gt: float | None = None
    gte: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class DatetimeRange:
    lt: Instant | None = None
    gt: Instant | None = None
    gte: Instant | None = None
    lte: Instant | None = None


@dataclass(frozen=True)
class ValuesCount:
    lt: int | None = None
    gt: int | None = None
    gte: int | None = None
    lte: int | None = None


@dataclass(frozen=True)
class FieldCondition:
    key: PayloadKey
    match: Match | None = None
    range: Range | DatetimeRange | None = None
    geo_bounding_box: GeoBoundingBox | None = None
    geo_radius: GeoRadius | None = None
    geo_polygon: GeoPolygon | None = None
    values_count: ValuesCount | None = None
    is_empty: bool | None = None
    is_null: bool | None = None


@dataclass(frozen=True)
class IsEmpty:
    key: PayloadKey


@dataclass(frozen=True)
class IsNull:
    key: PayloadKey


@dataclass(frozen=True)
class HasId:
    ids: frozenset[PointId]  # UUIDs in canonical hyphenated form


@dataclass(frozen=True)
class HasVector:
    name: str


@dataclass(frozen=True)
class Nested:
    key: PayloadKey
    filter: Filter


@dataclass(frozen=True)
class MinShould:
    conditions: tuple[Condition, ...]
    min_count: int


@dataclass(frozen=True)
class Filter:
    """None means the clause was not given; an empty tuple that it was given empty."""

    must: tuple[Condition, ...] | None = None
    should: tuple[Condition, ...] | None = None
    must_not: tuple[Condition, ...] | None = None
    min_should: MinShould | None = None


Condition = FieldCondition | IsEmpty | IsNull | HasId | HasVector | Nested | Filter

_CLAUSES = ("must", "should", "must_not", "min_should")
_FIELD_CHECKS = ("match", "range", "geo_bounding_box", "geo_radius", "geo_polygon", "values_count",
                 "is_empty", "is_null")
_BOUNDS = ("lt", "gt", "gte", "lte")
_CONDITION_KEYS = ("key", "is_empty", "is_null", "has_id", "has_vector", "nested", "slice")


def parse_filter(value: Any, path: str = "filter") -> Filter | None:
    """The filter a JSON filter describes, or None when the body has none."""
    if value is None:
        return None
    try:
        return _filter(value, path)
    except RecursionError:
        raise FormatError(path, "filter nested too deeply") from None


def parse_condition(value: Any, path: str) -> Condition:
    """One condition of a filter clause (formulas use them as terms)."""
    try:
        return _condition(value, path)
    except RecursionError:
        raise FormatError(path, "condition nested too deeply") from None


def is_condition(value: Any) -> bool:
    """Whether a JSON object has the shape of some condition (without checking it further)."""
    return isinstance(value, dict) and bool(value) and (
        any(key in value for key in _CONDITION_KEYS) or all(key in _CLAUSES for key in value))


def parse_geo_point(value: Any, path: str) -> GeoPoint:
    return _geo_point(value, path)


def _filter(value: Any, path: str) -> Filter:
    body = Obj.of(value, path).only(*_CLAUSES)
    min_should = None
    if (spec := body.sub("min_should")) is not None:
        min_should = MinShould(spec.req("conditions", _condition_list), spec.req("min_count", positive))
    return Filter(
        must=body.opt("must", _conditions),
        should=body.opt("should", _conditions),
        must_not=body.opt("must_not", _conditions),
        min_should=min_should,
    )


def _conditions(value: Any, path: str) -> tuple[Condition, ...]:
    """Qdrant accepts one condition or a list of them in each clause."""
    if isinstance(value, dict):
        return (_condition(value, path),)
    return _condition_list(value, path)


def _condition_list(value: Any, path: str) -> tuple[Condition, ...]:
    return tuple(_condition(item, at(path, i)) for i, item in enumerate(array(value, path)))


def _condition(value: Any, path: str) -> Condition:
    body = Obj.of(value, path)
    if body.has("key"):
        return _field_condition(body)
    if body.has("is_empty"):
        return IsEmpty(_payload_field(body, "is_empty"))
    if body.has("is_null"):
        return IsNull(_payload_field(body, "is_null"))
    if body.has("has_id"):
        return HasId(frozenset(body.req("has_id", list_of(point_id))))
    if body.has("has_vector"):
        return HasVector(body.req("has_vector", string))
    if body.has("nested"):
        nested = body.req("nested", Obj.of)
        return Nested(nested.req("key", payload_key), nested.req("filter", _filter))
    if body.has("slice"):
        raise Unsupported(f"{path}: slice condition")
    if all(key in _CLAUSES for key in body.data):
        return _filter(value, path)
    raise FormatError(path, "expected a condition: a field condition (`key`), `is_empty`, `is_null`, "
                            "`has_id`, `has_vector`, `nested` or a nested filter")


def _payload_field(body: Obj, key: str) -> PayloadKey:
    return body.req(key, Obj.of).req("key", payload_key)


def _field_condition(body: Obj) -> FieldCondition:
    if not any(body.has(check) for check in _FIELD_CHECKS):
        raise FormatError(body.path, "at least one field condition must be specified: "
                                     + ", ".join(_FIELD_CHECKS))
    return FieldCondition(
        key=body.req("key", payload_key),
        match=body.opt("match", _match),
        range=body.opt("range", _range),
        geo_bounding_box=body.opt("geo_bounding_box", _geo_bounding_box),
        geo_radius=body.opt("geo_radius", _geo_radius),
        geo_polygon=body.opt("geo_polygon", _geo_polygon),
        values_count=body.opt("values_count", _values_count),
        is_empty=body.opt("is_empty", boolean),
        is_null=body.opt("is_null", boolean),
    )


def _match(value: Any, path: str) -> Match:
    body = Obj.of(value, path)
    if "value" in body.data:
        return MatchValue(body.req("value", _match_value))
    if body.has("text"):
        return MatchText(body.req("text", string))
    if body.has("text_any"):
        return MatchTextAny(body.req("text_any", string))
    if body.has("phrase"):
        return MatchPhrase(body.req("phrase", string))
    if body.has("prefix"):
        return MatchPrefix(body.req("prefix", string))
    if body.has("any"):
        return MatchAny(body.req("any", _match_values))
    if body.has("except"):
        return MatchExcept(body.req("except", _match_values))
    raise FormatError(path, "expected one of `value`, `text`, `text_any`, `phrase`, `prefix`, `any`, `except`")


def _match_value(value: Any, path: str) -> str | int | bool:
    if isinstance(value, str | bool):
        return value
    return integer(value, path)


def _match_values(value: Any, path: str) -> tuple[str, ...] | tuple[int, ...]:
    """`any` / `except` take all strings or all integers, as Qdrant's AnyVariants."""
    items = array(value, path)
    if all(isinstance(item, str) for item in items):
        return tuple(items)
    return tuple(integer(item, at(path, i)) for i, item in enumerate(items))


def _range(value: Any, path: str) -> Range | DatetimeRange:
    """Numbers make a numeric range; strings make a datetime range (RFC 3339 and the like)."""
    body = Obj.of(value, path)
    given = {key: body.data[key] for key in _BOUNDS if body.has(key)}
    if given and all(isinstance(bound, str) for bound in given.values()):
        return DatetimeRange(**{key: _instant(bound, path, key) for key, bound in given.items()})
    return Range(**{key: number(bound, at(path, key)) for key, bound in given.items()})


def _instant(text: str, path: str, bound: str) -> Instant:
    micros = timestamp(text)
    if micros is None:
        raise FormatError(path, f"invalid datetime in `{bound}`: {shown(text)}")
    return Instant(text, micros)


def _geo_point(value: Any, path: str) -> GeoPoint:
    body = Obj.of(value, path)
    lon, lat = body.req("lon", number), body.req("lat", number)
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise fail(path, "lon in [-180, 180] and lat in [-90, 90]", value)
    return GeoPoint(lon=lon, lat=lat)


def _geo_bounding_box(value: Any, path: str) -> GeoBoundingBox:
    body = Obj.of(value, path)
    return GeoBoundingBox(body.req("top_left", _geo_point), body.req("bottom_right", _geo_point))


def _geo_radius(value: Any, path: str) -> GeoRadius:
    body = Obj.of(value, path)
    return GeoRadius(body.req("center", _geo_point), body.req("radius", number))


def _ring(value: Any, path: str) -> tuple[GeoPoint, ...]:
    """A GeoLineString that closes a polygon or a hole: Qdrant's checks, in its words."""
    points = Obj.of(value, path).req("points", list_of(_geo_point))
    if len(points) < 4:
        raise FormatError(path, f"Validation failed: polygon invalid, the size must be at least 4, got {len(points)}")
    first, last = points[0], points[-1]
    if abs(first.lat - last.lat) > sys.float_info.epsilon or abs(first.lon - last.lon) > sys.float_info.epsilon:
        raise FormatError(path, "Validation failed: polygon invalid, the first and the last points should be "
                                "the same to form a closed line")
    return tuple(points)


def _geo_polygon(value: Any, path: str) -> GeoPolygon:
    body = Obj.of(value, path)
    exterior = body.req("exterior", _ring)
    interiors = body.opt("interiors", list_of(_ring))
    return GeoPolygon(exterior, None if interiors is None else tuple(interiors))


def _values_count(value: Any, path: str) -> ValuesCount:
    body = Obj.of(value, path)
    return ValuesCount(**{key: body.opt(key, unsigned) for key in _BOUNDS})
