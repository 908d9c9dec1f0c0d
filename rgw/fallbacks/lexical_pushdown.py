"""Filter pushdown: the part of a Qdrant filter Tantivy can check, as a query narrowing BM25's candidates.

The narrowing query is looser than the filter, never stricter: every point the filter selects
matches it, so the exact evaluation of the whole filter over each candidate's payload (which
follows, as before) still decides every answer. The narrowing only spares Tantivy from ranking,
and Python from reading, the candidates the filter would reject: a filter keeping 1 point in 80
no longer makes the search rank 80 times `limit` candidates to find `limit` hits. Writes that
select points by filter (`lexical_writes`) read only the matching points' payloads the same way.

Pushed down, over the values `lexical_attrs` indexes:
- `match.value` and `match.any` on strings, integers and booleans: terms;
- `range` on numbers: a range over the fast columns (bounds made inclusive and loosened into
  shapes Tantivy takes, `_loosened`; dropped beyond 2**52);
- `has_id` (outside `nested`): the ids' terms;
- `must`: every part that pushes; `should` and `min_should`: one of their conditions, when every
  one of them pushes; a field condition with several checks: one of them, when all push.
Nothing else narrows (`must_not`, `except`, `prefix`, `is_empty`, `is_null`, `values_count`, geo,
datetime ranges, `nested`): the exact evaluation handles those alone.
"""

from __future__ import annotations

import re

import tantivy

from rgw.fallbacks.lexical_attrs import integer, keyword, pushable_steps
from rgw.fallbacks.lexical_collection import ATTRS, ID, CollectionIndex, doc_key
from rgw.qdrant.filters import (
    Condition,
    FieldCondition,
    Filter,
    HasId,
    Match,
    MatchAny,
    MatchValue,
    Range,
)

EXACT = 2.0**52  # below this, floats and integers compare alike and x +- 0.5 is never an integer
TINY = 1e-4
UNBOUNDED = "*"
_QUERY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # path steps the query parser takes as they are


def narrowing(filter_: Filter, index: CollectionIndex) -> tantivy.Query | None:
    """A query every point `filter_` selects matches; None when no part of the filter pushes down."""
    if not index.filterable:
        return None
    return _Pushdown(index).filter(filter_)


class _Pushdown:
    def __init__(self, index: CollectionIndex) -> None:
        self.index = index
        self.schema = index.schema
        self.skipped = index.skipped_key

    def filter(self, filter_: Filter) -> tantivy.Query | None:
        parts = [q for c in filter_.must or () if (q := self.condition(c)) is not None]
        for conditions in (filter_.should, filter_.min_should and filter_.min_should.conditions):
            if conditions and (q := self.any_of([self.condition(c) for c in conditions])) is not None:
                parts.append(q)
        return all_of(parts)

    def condition(self, condition: Condition) -> tantivy.Query | None:
        match condition:
            case Filter():
                return self.filter(condition)
            case FieldCondition():
                return self.field(condition)
            case HasId(ids=ids) if ids:
                return tantivy.Query.term_set_query(self.schema, ID, sorted(doc_key(pid) for pid in ids))
        return None

    def field(self, condition: FieldCondition) -> tantivy.Query | None:
        if condition.values_count is not None or condition.is_empty is not None or condition.is_null is not None:
            return None
        steps = pushable_steps(condition.key, self.skipped)
        if steps is None:
            return None
        path = ".".join([ATTRS, *steps])
        checks: list[tantivy.Query | None] = []
        if condition.match is not None:
            checks.append(self.match(path, condition.match))
        if condition.range is not None:
            checks.append(self.range(steps, condition.range) if isinstance(condition.range, Range) else None)
        if any(shape is not None for shape in (condition.geo_bounding_box, condition.geo_radius,
                                               condition.geo_polygon)):
            checks.append(None)
        return self.any_of(checks)

    def match(self, path: str, match: Match) -> tantivy.Query | None:
        match match:
            case MatchValue(value=value) if _term(value):
                return tantivy.Query.term_query(self.schema, path, value)
            case MatchAny(values=values) if values and all(_term(v) for v in values):
                return tantivy.Query.term_set_query(self.schema, path, list(values))
        return None

    def range(self, steps: list[str], bounds: Range) -> tantivy.Query | None:
        if not all(_QUERY_NAME.fullmatch(step) for step in steps):
            return None
        lower, upper = _loosened(bounds)
        if lower is None and upper is None:
            return None
        return self.index.parse_query(f"{'.'.join([ATTRS, *steps])}:[{_spelled(lower)} TO {_spelled(upper)}]")

    def any_of(self, queries: list[tantivy.Query | None]) -> tantivy.Query | None:
        if not queries or any(q is None for q in queries):
            return None
        if len(queries) == 1:
            return queries[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in queries])


def all_of(queries: list[tantivy.Query]) -> tantivy.Query | None:
    if not queries:
        return None
    if len(queries) == 1:
        return queries[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def _term(value: object) -> bool:
    """A match value whose points a term query finds: every one of them, as indexed."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return integer(value)
    return isinstance(value, str) and keyword(value)


def _loosened(bounds: Range) -> tuple[float | None, float | None]:
    """Inclusive (lower, upper) bounds holding every value `bounds` holds, in the shapes Tantivy takes."""
    lows = [float(b) for b in (bounds.gt, bounds.gte) if b is not None]
    highs = [float(b) for b in (bounds.lt, bounds.lte) if b is not None]
    lower = max(lows) if lows and abs(max(lows)) < EXACT else None
    upper = min(highs) if highs and abs(min(highs)) < EXACT else None
    # Below 1e-4 a float's repr takes an exponent, which the query parser may refuse.
    if lower is not None and 0 < abs(lower) < TINY:
        lower = -TINY
    if upper is not None and 0 < abs(upper) < TINY:
        upper = TINY
    # The parser reads an integral bound as an integer, and Tantivy cannot take an integer and a
    # float bound in one range: the integral one moves out by a half.
    if lower is not None and upper is not None and lower.is_integer() != upper.is_integer():
        if lower.is_integer():
            lower -= 0.5
        else:
            upper += 0.5
    return lower, upper


def _spelled(bound: float | None) -> str:
    if bound is None:
        return UNBOUNDED
    return str(int(bound)) if bound.is_integer() else repr(bound)
