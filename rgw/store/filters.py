"""Typed Qdrant filters (rgw.qdrant.filters) -> qdrant_edge filter objects."""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rgw.qdrant.fields import Obj
from rgw.qdrant.filters import (
    Condition,
    DatetimeRange,
    FieldCondition,
    Filter,
    HasId,
    HasVector,
    IsEmpty,
    IsNull,
    Match,
    MatchAny,
    MatchExcept,
    MatchPhrase,
    MatchPrefix,
    MatchText,
    MatchTextAny,
    MatchValue,
    Nested,
    Range,
    parse_filter,
)
from rgw.qdrant.geo import GeoPoint, GeoPolygon

EngineCondition = (
    qe.FieldCondition
    | qe.IsEmptyCondition
    | qe.IsNullCondition
    | qe.HasIdCondition
    | qe.HasVectorCondition
    | qe.NestedCondition
    | qe.Filter
)


def filter_at(body: Obj, key: str = "filter") -> qe.Filter | None:
    """The engine filter for the JSON filter at `body[key]`, or None when there is none."""
    parsed = parse_filter(body.data.get(key), body.where(key))
    return None if parsed is None else engine_filter(parsed)


def engine_filter(filter_: Filter) -> qe.Filter:
    min_should = filter_.min_should
    return qe.Filter(
        must=_conditions(filter_.must),
        should=_conditions(filter_.should),
        must_not=_conditions(filter_.must_not),
        min_should=None if min_should is None else qe.MinShould(
            conditions=_conditions(min_should.conditions), min_count=min_should.min_count),
    )


def _conditions(conditions: tuple[Condition, ...] | None) -> list[EngineCondition] | None:
    return None if conditions is None else [_condition(c) for c in conditions]


def engine_condition(condition: Condition) -> EngineCondition:
    return _condition(condition)


def _condition(condition: Condition) -> EngineCondition:
    match condition:
        case Filter():
            return engine_filter(condition)
        case FieldCondition():
            return _field_condition(condition)
        case IsEmpty(key=key):
            return qe.IsEmptyCondition(key.text)
        case IsNull(key=key):
            return qe.IsNullCondition(key.text)
        case HasId(ids=ids):
            return qe.HasIdCondition(set(ids))
        case HasVector(name=name):
            return qe.HasVectorCondition(name)
        case Nested(key=key, filter=inner):
            return qe.NestedCondition(key.text, engine_filter(inner))
    raise TypeError(f"not a filter condition: {condition!r}")


def _field_condition(condition: FieldCondition) -> qe.FieldCondition:
    box, circle, polygon, count = (condition.geo_bounding_box, condition.geo_radius, condition.geo_polygon,
                                   condition.values_count)
    return qe.FieldCondition(
        key=condition.key.text,
        match=None if condition.match is None else _match(condition.match),
        range=None if condition.range is None else _range(condition.range),
        geo_bounding_box=None if box is None else qe.GeoBoundingBox(_point(box.top_left), _point(box.bottom_right)),
        geo_radius=None if circle is None else qe.GeoRadius(_point(circle.center), circle.radius),
        geo_polygon=None if polygon is None else _polygon(polygon),
        values_count=None if count is None else qe.ValuesCount(lt=count.lt, gt=count.gt, lte=count.lte, gte=count.gte),
        is_empty=condition.is_empty,
        is_null=condition.is_null,
    )


def _range(bounds: Range | DatetimeRange) -> qe.RangeFloat | qe.RangeDateTime:
    if isinstance(bounds, Range):
        return qe.RangeFloat(lt=bounds.lt, gt=bounds.gt, gte=bounds.gte, lte=bounds.lte)
    # The datetimes as the client wrote them: the engine reads them exactly as the grammar did.
    given = {"lt": bounds.lt, "gt": bounds.gt, "gte": bounds.gte, "lte": bounds.lte}
    return qe.RangeDateTime(**{name: instant.text for name, instant in given.items() if instant is not None})


def _match(match: Match) -> Any:
    match match:
        case MatchValue(value=bool() as value):
            # The binding reads a Python bool as an integer (bool subclasses int), matching 1 or 0
            # instead of true or false; numpy's bool is one it cannot mistake. Imported here, as
            # only this needs it: loading numpy (and its thread pool) into every store process and
            # index-build child is not free.
            import numpy as np

            return qe.MatchValue(np.bool_(value))
        case MatchValue(value=value):
            return qe.MatchValue(value)
        case MatchAny(values=values):
            return qe.MatchAny(list(values))
        case MatchExcept(values=values):
            return qe.MatchExcept(list(values))
        case MatchText(text=text):
            return qe.MatchText(text)
        case MatchTextAny(text=text):
            return qe.MatchTextAny(text)
        case MatchPhrase(text=text):
            return qe.MatchPhrase(text)
        case MatchPrefix(prefix=prefix):
            return qe.MatchPrefix(prefix)
    raise TypeError(f"not a match: {match!r}")


def _point(point: GeoPoint) -> qe.GeoPoint:
    return qe.GeoPoint(lon=point.lon, lat=point.lat)


def _polygon(polygon: GeoPolygon) -> qe.GeoPolygon:
    interiors = polygon.interiors
    return qe.GeoPolygon([_point(p) for p in polygon.exterior],
                         None if interiors is None else [[_point(p) for p in ring] for ring in interiors])
