"""Qdrant JSON filters -> qdrant_edge filter objects.

Follows the `Filter` / `Condition` schemas of Qdrant's OpenAPI spec. Anything malformed raises
FormatError naming the field (`filter.must[0].match: ...`), never an engine TypeError.
"""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rgw.store.errors import FormatError, Unsupported
from rgw.store.fields import (
    Obj,
    array,
    at,
    boolean,
    fail,
    integer,
    list_of,
    number,
    point_id,
    positive,
    string,
    unsigned,
)

Condition = (
    qe.FieldCondition
    | qe.IsEmptyCondition
    | qe.IsNullCondition
    | qe.HasIdCondition
    | qe.HasVectorCondition
    | qe.NestedCondition
    | qe.Filter
)

_CLAUSES = ("must", "should", "must_not", "min_should")
_FIELD_CHECKS = ("match", "range", "geo_bounding_box", "geo_radius", "geo_polygon", "values_count",
                 "is_empty", "is_null")


def parse_filter(value: Any, path: str = "filter") -> qe.Filter | None:
    """The engine filter for a JSON filter, or None when the body has none."""
    if value is None:
        return None
    try:
        return _filter(value, path)
    except RecursionError:
        raise FormatError(path, "filter nested too deeply") from None


def _filter(value: Any, path: str) -> qe.Filter:
    body = Obj.of(value, path).only(*_CLAUSES)
    min_should = None
    if (spec := body.sub("min_should")) is not None:
        min_should = qe.MinShould(
            conditions=spec.req("conditions", _condition_list),
            min_count=spec.req("min_count", positive),
        )
    return qe.Filter(
        must=body.opt("must", _conditions),
        should=body.opt("should", _conditions),
        must_not=body.opt("must_not", _conditions),
        min_should=min_should,
    )


def _conditions(value: Any, path: str) -> list[Condition]:
    """Qdrant accepts one condition or a list of them in each clause."""
    if isinstance(value, dict):
        return [_condition(value, path)]
    return _condition_list(value, path)


def _condition_list(value: Any, path: str) -> list[Condition]:
    return [_condition(item, at(path, i)) for i, item in enumerate(array(value, path))]


def _condition(value: Any, path: str) -> Condition:
    body = Obj.of(value, path)
    if body.has("key"):
        return _field_condition(body)
    if body.has("is_empty"):
        return qe.IsEmptyCondition(_payload_field(body, "is_empty"))
    if body.has("is_null"):
        return qe.IsNullCondition(_payload_field(body, "is_null"))
    if body.has("has_id"):
        return qe.HasIdCondition(set(body.req("has_id", list_of(point_id))))
    if body.has("has_vector"):
        return qe.HasVectorCondition(body.req("has_vector", string))
    if body.has("nested"):
        nested = body.req("nested", Obj.of)
        return qe.NestedCondition(nested.req("key", string), nested.req("filter", _filter))
    if body.has("slice"):
        raise Unsupported(f"{path}: slice condition")
    if all(key in _CLAUSES for key in body.data):
        return _filter(value, path)
    raise FormatError(path, "expected a condition: a field condition (`key`), `is_empty`, `is_null`, "
                            "`has_id`, `has_vector`, `nested` or a nested filter")


def _payload_field(body: Obj, key: str) -> str:
    return body.req(key, Obj.of).req("key", string)


def _field_condition(body: Obj) -> qe.FieldCondition:
    if not any(body.has(check) for check in _FIELD_CHECKS):
        raise FormatError(body.path, "at least one field condition must be specified: "
                                     + ", ".join(_FIELD_CHECKS))
    return qe.FieldCondition(
        key=body.req("key", string),
        match=body.opt("match", _match),
        range=body.opt("range", _range),
        geo_bounding_box=body.opt("geo_bounding_box", _geo_bounding_box),
        geo_radius=body.opt("geo_radius", _geo_radius),
        geo_polygon=body.opt("geo_polygon", _geo_polygon),
        values_count=body.opt("values_count", _values_count),
        is_empty=body.opt("is_empty", boolean),
        is_null=body.opt("is_null", boolean),
    )


def _match(value: Any, path: str) -> Any:
    body = Obj.of(value, path)
    if "value" in body.data:
        return qe.MatchValue(body.req("value", _match_value))
    if body.has("text"):
        return qe.MatchText(body.req("text", string))
    if body.has("text_any"):
        return qe.MatchTextAny(body.req("text_any", string))
    if body.has("phrase"):
        return qe.MatchPhrase(body.req("phrase", string))
    if body.has("prefix"):
        return qe.MatchPrefix(body.req("prefix", string))
    if body.has("any"):
        return qe.MatchAny(body.req("any", _match_values))
    if body.has("except"):
        return qe.MatchExcept(body.req("except", _match_values))
    raise FormatError(path, "expected one of `value`, `text`, `text_any`, `phrase`, `prefix`, `any`, `except`")


def _match_value(value: Any, path: str) -> str | int | bool:
    if isinstance(value, str | bool):
        return value
    return integer(value, path)


def _match_values(value: Any, path: str) -> list[str] | list[int]:
    """`any` / `except` take all strings or all integers, as Qdrant's AnyVariants."""
    items = array(value, path)
    if all(isinstance(item, str) for item in items):
        return items
    return [integer(item, at(path, i)) for i, item in enumerate(items)]


_BOUNDS = ("lt", "gt", "gte", "lte")


def _range(value: Any, path: str) -> qe.RangeFloat | qe.RangeDateTime:
    """Numbers make a numeric range; strings make a datetime range (RFC 3339 and the like)."""
    body = Obj.of(value, path)
    given = {key: body.data[key] for key in _BOUNDS if body.has(key)}
    if given and all(isinstance(bound, str) for bound in given.values()):
        try:
            return qe.RangeDateTime(**given)
        except ValueError as exc:
            raise FormatError(path, f"invalid datetime: {exc}") from exc
    return qe.RangeFloat(**{key: number(bound, at(path, key)) for key, bound in given.items()})


def _geo_point(value: Any, path: str) -> qe.GeoPoint:
    body = Obj.of(value, path)
    lon, lat = body.req("lon", number), body.req("lat", number)
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise fail(path, "lon in [-180, 180] and lat in [-90, 90]", value)
    return qe.GeoPoint(lon=lon, lat=lat)


def _geo_bounding_box(value: Any, path: str) -> qe.GeoBoundingBox:
    body = Obj.of(value, path)
    return qe.GeoBoundingBox(body.req("top_left", _geo_point), body.req("bottom_right", _geo_point))


def _geo_radius(value: Any, path: str) -> qe.GeoRadius:
    body = Obj.of(value, path)
    return qe.GeoRadius(body.req("center", _geo_point), body.req("radius", number))


def _line_string(value: Any, path: str) -> list[qe.GeoPoint]:
    return Obj.of(value, path).req("points", list_of(_geo_point))


def _geo_polygon(value: Any, path: str) -> qe.GeoPolygon:
    body = Obj.of(value, path)
    try:
        return qe.GeoPolygon(body.req("exterior", _line_string), body.opt("interiors", list_of(_line_string)))
    except ValueError as exc:
        raise FormatError(path, str(exc)) from exc


def _values_count(value: Any, path: str) -> qe.ValuesCount:
    body = Obj.of(value, path)
    return qe.ValuesCount(**{key: body.opt(key, unsigned) for key in _BOUNDS})
