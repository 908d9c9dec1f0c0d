"""Which points a Qdrant filter selects, decided in Python over (point id, payload).

The semantics are those of Qdrant's own condition checker, which the region store's engine runs
(and `tests/qdrant` compares against), where it is more precise than the documentation:

- `must`: all hold; `must_not`: none holds; `should`: one holds (an empty `should` constrains
  nothing, except inside `nested`, where it never holds); `min_should`: at least `min_count` of
  its conditions hold.
- A key reaches values through objects only; `[]` and `[i]` enter arrays (see `paths`). A field
  condition holds when one reached value satisfies it, and a reached array satisfies a match,
  range or geo check when one of its elements does.
- Several checks in one field condition: `values_count` alone decides when given, else
  `is_empty`, else `is_null`; otherwise the match, range and geo checks are OR'ed.
- A key that reaches nothing satisfies only `values_count` (counting 0), `is_empty: true` and
  `is_null: false`.
- `match.value` / `match.any`: equal strings, equal integers (never a float) or equal booleans.
  `match.except`: any value that is not null and not one of them, a value of another type
  included; never a missing field. `match.prefix`: strings starting with it, case-sensitively.
- `range`: numbers (not booleans) against numeric bounds; strings that Qdrant reads as datetimes
  against datetime bounds, to the microsecond.
- Geo checks: objects with numeric `lon` and `lat`; a point on a boundary is outside.
- `values_count`: an array counts its elements, null counts 0, anything else 1.
- `is_empty` (condition): every reached value is null or `[]` (so does a missing key).
  `is_null`: a reached value is null or an array holding a null.
- `has_id`: integer ids and UUIDs, UUIDs compared canonically.
- `nested`: the inner filter holds for one object of the array at the key; inside it, `has_id`
  and `has_vector` never hold (the engine does not look them up there).

Raises CannotEvaluate for `match.text`, `match.text_any` and `match.phrase` (what they select
depends on the collection's full-text index: tokenizer, case folding, stemming) and for
`has_vector` outside `nested` (it needs the vectors). A field condition whose match is never
consulted (because `values_count`, `is_empty` or `is_null` decides) evaluates.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from rgw.qdrant.datetimes import timestamp
from rgw.qdrant.fields import Payload, PointId, at, canonical_id
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
    MatchPrefix,
    MatchValue,
    Nested,
    Range,
)
from rgw.qdrant.geo import GeoBoundingBox, GeoPoint, GeoPolygon, GeoRadius

# A compiled filter: (point id, payload) -> selected. The id may also be a uuid.UUID; inside
# `nested` it is None.
Predicate = Callable[[PointId | uuid.UUID | None, Payload], bool]
ValueCheck = Callable[[Any], bool]


class CannotEvaluate(Exception):
    """A condition whose result Python cannot know; the caller should decline, not guess."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def evaluate(filter_: Filter, point_id: PointId | uuid.UUID, payload: Payload | None) -> bool:
    """Whether the filter selects this point. For many points, compile once with `predicate`."""
    return predicate(filter_)(point_id, payload or {})


def predicate(filter_: Filter, path: str = "filter") -> Predicate:
    """The filter compiled into a function of (point id, payload); raises CannotEvaluate, naming
    where in the filter, before any point is looked at."""
    return _filter(filter_, path, nested=False)


def _filter(filter_: Filter, path: str, nested: bool) -> Predicate:
    def clause(name: str, conditions: tuple[Condition, ...]) -> list[Predicate]:
        return [_condition(c, at(at(path, name), i), nested) for i, c in enumerate(conditions)]

    must = clause("must", filter_.must or ())
    must_not = clause("must_not", filter_.must_not or ())
    should = None if filter_.should is None else clause("should", filter_.should)
    if should == [] and not nested:
        # The engine's query planner drops an empty `should`; inside `nested` its plain checker
        # runs instead, and finds none of no conditions holding.
        should = None
    min_should = filter_.min_should
    at_least = clause("min_should.conditions", min_should.conditions) if min_should else []
    min_count = min_should.min_count if min_should else 0

    def check(pid: PointId | uuid.UUID | None, payload: Payload) -> bool:
        return (all(c(pid, payload) for c in must)
                and not any(c(pid, payload) for c in must_not)
                and (should is None or any(c(pid, payload) for c in should))
                and sum(c(pid, payload) for c in at_least) >= min_count)

    return check


def _condition(condition: Condition, path: str, nested: bool) -> Predicate:
    match condition:
        case Filter():
            return _filter(condition, path, nested)
        case FieldCondition():
            return _field_condition(condition, path)
        case IsEmpty(key=key):
            # Unlike the field condition's `is_empty`, every reached value must be empty.
            return lambda pid, payload: all(_is_empty(v) for v in key.values(payload))
        case IsNull(key=key):
            return lambda pid, payload: any(_null_or_holds_null(v) for v in key.values(payload))
        case HasId(ids=ids):
            if nested:
                return lambda pid, payload: False
            return lambda pid, payload: pid is not None and canonical_id(pid) in ids
        case HasVector():
            if nested:
                return lambda pid, payload: False
            raise CannotEvaluate(path, "has_vector needs the points' vectors")
        case Nested(key=key, filter=inner):
            elements = key.elements()
            holds = _filter(inner, at(at(path, "nested"), "filter"), nested=True)
            return lambda pid, payload: any(
                holds(None, item) for item in elements.values(payload) if isinstance(item, dict))
    raise TypeError(f"not a filter condition: {condition!r}")


def _field_condition(condition: FieldCondition, path: str) -> Predicate:
    key = condition.key
    if (count := condition.values_count) is not None:
        counts = _bounds_check(count.lt, count.gt, count.gte, count.lte)
        check, when_missing = (lambda value: counts(_count(value))), counts(0)
    elif condition.is_empty is not None:
        check, when_missing = _is_empty_check(condition.is_empty), condition.is_empty
    elif condition.is_null is not None:
        check, when_missing = _is_null_check(condition.is_null), not condition.is_null
    else:
        check, when_missing = _element_wise(_value_checks(condition, path)), False

    def holds(pid: PointId | uuid.UUID | None, payload: Payload) -> bool:
        values = key.values(payload)
        return any(check(v) for v in values) if values else when_missing

    return holds


def _value_checks(condition: FieldCondition, path: str) -> ValueCheck:
    checks = []
    if condition.match is not None:
        checks.append(_match(condition.match, at(path, "match")))
    if isinstance(condition.range, Range):
        checks.append(_number_range(condition.range))
    elif isinstance(condition.range, DatetimeRange):
        checks.append(_datetime_range(condition.range))
    checks.extend(_geo_check(shape) for shape in (condition.geo_bounding_box, condition.geo_radius,
                                                  condition.geo_polygon) if shape is not None)
    return lambda value: any(check(value) for check in checks)


def _element_wise(check: ValueCheck) -> ValueCheck:
    """An array value satisfies a check when one of its elements does (one level: an array
    inside an array is an element, not flattened)."""
    return lambda value: any(check(item) for item in value) if isinstance(value, list) else check(value)


def _match(match: Match, path: str) -> ValueCheck:
    match match:
        case MatchValue(value=bool() as wanted):
            return lambda value: value is wanted
        case MatchValue(value=str() as wanted):
            return lambda value: value == wanted
        case MatchValue(value=wanted):
            return lambda value: type(value) is int and value == wanted
        case MatchAny(values=values):
            kind, wanted_set = _kind(values), frozenset(values)
            return lambda value: type(value) is kind and value in wanted_set
        case MatchExcept(values=values):
            kind, unwanted = _kind(values), frozenset(values)
            return lambda value: value is not None and not (type(value) is kind and value in unwanted)
        case MatchPrefix(prefix=prefix):
            return lambda value: type(value) is str and value.startswith(prefix)
    raise CannotEvaluate(path, "full-text matches depend on the collection's text index")


def _kind(values: tuple[str, ...] | tuple[int, ...]) -> type:
    """Qdrant reads an empty list as strings; no value of either type is in it anyway."""
    return int if values and type(values[0]) is int else str


def _number_range(bounds: Range) -> ValueCheck:
    within = _bounds_check(bounds.lt, bounds.gt, bounds.gte, bounds.lte)
    return lambda value: type(value) in (int, float) and within(float(value))


def _datetime_range(bounds: DatetimeRange) -> ValueCheck:
    lt, gt, gte, lte = (None if b is None else b.micros for b in (bounds.lt, bounds.gt, bounds.gte, bounds.lte))
    within = _bounds_check(lt, gt, gte, lte)

    def check(value: Any) -> bool:
        micros = timestamp(value) if type(value) is str else None
        return micros is not None and within(micros)

    return check


def _geo_check(shape: GeoBoundingBox | GeoRadius | GeoPolygon) -> ValueCheck:
    def check(value: Any) -> bool:
        point = _geo_point(value)
        return point is not None and shape.contains(point)

    return check


def _bounds_check(lt: Any, gt: Any, gte: Any, lte: Any) -> Callable[[Any], bool]:
    return lambda x: ((lt is None or x < lt) and (gt is None or x > gt)
                      and (gte is None or x >= gte) and (lte is None or x <= lte))


def _count(value: Any) -> int:
    if value is None:
        return 0
    return len(value) if isinstance(value, list) else 1


def _is_empty_check(empty: bool) -> ValueCheck:
    return lambda value: _is_empty(value) == empty


def _is_null_check(null: bool) -> ValueCheck:
    return lambda value: _null_or_holds_null(value) == null


def _is_empty(value: Any) -> bool:
    return value is None or value == []


def _null_or_holds_null(value: Any) -> bool:
    return value is None or (isinstance(value, list) and any(item is None for item in value))


def _geo_point(value: Any) -> GeoPoint | None:
    if not isinstance(value, dict):
        return None
    lon, lat = value.get("lon"), value.get("lat")
    if type(lon) not in (int, float) or type(lat) not in (int, float):
        return None
    return GeoPoint(lon=float(lon), lat=float(lat))

