"""Qdrant's score-boosting formulas (`{"formula": Expression, "defaults": {...}}`), parsed into a
typed expression tree. Follows the `Expression` schema of the 1.19 spec: numbers, variables
(`$score`, `$score[i]` or a payload key), conditions, geo distance, datetimes, arithmetic and the
three decay functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from rgw.qdrant.datetimes import timestamp
from rgw.qdrant.errors import FormatError
from rgw.qdrant.fields import Obj, array, at, fail, json_object, number, shown, string
from rgw.qdrant.filters import Condition, is_condition, parse_condition, parse_geo_point
from rgw.qdrant.geo import GeoPoint
from rgw.qdrant.paths import PayloadKey, payload_key

_SCORE = re.compile(r"\$score(?:\[([0-9]+)\])?")


@dataclass(frozen=True)
class Constant:
    value: float


@dataclass(frozen=True)
class ScoreVariable:
    """`$score` (index 0) or `$score[i]`: the score a point got in prefetch `i`."""

    index: int

    @property
    def text(self) -> str:
        return "$score" if self.index == 0 else f"$score[{self.index}]"


@dataclass(frozen=True)
class PayloadVariable:
    key: PayloadKey


Variable = ScoreVariable | PayloadVariable


@dataclass(frozen=True)
class ConditionExpression:
    """1 where the condition holds for the point, else 0."""

    condition: Condition


@dataclass(frozen=True)
class GeoDistance:
    origin: GeoPoint
    to: PayloadKey


@dataclass(frozen=True)
class DatetimeConstant:
    text: str


@dataclass(frozen=True)
class DatetimeKey:
    key: PayloadKey


class NaryOp(Enum):
    SUM = "sum"
    MULT = "mult"


@dataclass(frozen=True)
class Nary:
    op: NaryOp
    args: tuple[Expression, ...]


class UnaryOp(Enum):
    NEG = "neg"
    ABS = "abs"
    SQRT = "sqrt"
    EXP = "exp"
    LOG10 = "log10"
    LN = "ln"


@dataclass(frozen=True)
class Unary:
    op: UnaryOp
    arg: Expression


@dataclass(frozen=True)
class Div:
    left: Expression
    right: Expression
    by_zero_default: float | None


@dataclass(frozen=True)
class Pow:
    base: Expression
    exponent: Expression


class DecayKind(Enum):
    LIN = "lin_decay"
    EXP = "exp_decay"
    GAUSS = "gauss_decay"


@dataclass(frozen=True)
class Decay:
    kind: DecayKind
    x: Expression
    target: Expression | None
    scale: float | None  # > 0; Qdrant's default 1.0
    midpoint: float | None  # in (0, 1); Qdrant's default 0.5


Expression = (Constant | ScoreVariable | PayloadVariable | ConditionExpression | GeoDistance | DatetimeConstant
              | DatetimeKey | Nary | Unary | Div | Pow | Decay)


@dataclass(frozen=True)
class Formula:
    expression: Expression
    defaults: dict[str, Any]  # variable (as written) -> value used when a point lacks it


def formula(body: Obj) -> Formula:
    """The `formula` query: `{"formula": Expression, "defaults": {...}}`."""
    defaults = body.opt("defaults", json_object) or {}
    for name in defaults:
        variable(name, at(body.where("defaults"), name))
    return Formula(body.req("formula", expression), defaults)


def expression(value: Any, path: str) -> Expression:
    try:
        return _expression(value, path)
    except RecursionError:
        raise FormatError(path, "expression nested too deeply") from None


def variable(value: Any, path: str) -> Variable:
    text = string(value, path)
    if (score := _SCORE.fullmatch(text)) is not None:
        return ScoreVariable(int(score.group(1) or 0))
    if text.startswith("$"):
        raise fail(path, "`$score`, `$score[<prefetch index>]` or a payload key", value)
    return PayloadVariable(payload_key(text, path))


def _expression(value: Any, path: str) -> Expression:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Constant(float(value))
    if isinstance(value, str):
        return variable(value, path)
    body = Obj.of(value, path)
    for op in NaryOp:
        if op.value in body.data:
            items = body.req(op.value, array)
            return Nary(op, tuple(_expression(item, at(body.where(op.value), i)) for i, item in enumerate(items)))
    for unary in UnaryOp:
        if unary.value in body.data:
            return Unary(unary, body.req(unary.value, _expression))
    for kind in DecayKind:
        if kind.value in body.data:
            return _decay(kind, body.req(kind.value, Obj.of))
    if "div" in body.data:
        div = body.req("div", Obj.of)
        return Div(div.req("left", _expression), div.req("right", _expression),
                   div.opt("by_zero_default", number))
    if "pow" in body.data:
        power = body.req("pow", Obj.of)
        return Pow(power.req("base", _expression), power.req("exponent", _expression))
    if "geo_distance" in body.data:
        geo = body.req("geo_distance", Obj.of)
        return GeoDistance(geo.req("origin", parse_geo_point), geo.req("to", payload_key))
    if "datetime" in body.data:
        return DatetimeConstant(body.req("datetime", _datetime))
    if "datetime_key" in body.data:
        return DatetimeKey(body.req("datetime_key", payload_key))
    if not is_condition(value):
        raise FormatError(path, "expected an expression: a number, a variable, one of "
                          + ", ".join(f"`{key}`" for key in _OPERATORS) + ", or a condition")
    return ConditionExpression(parse_condition(value, path))


_OPERATORS = (*(op.value for op in NaryOp), *(op.value for op in UnaryOp), "div", "pow", "geo_distance", "datetime",
              "datetime_key", *(kind.value for kind in DecayKind))


def _decay(kind: DecayKind, body: Obj) -> Decay:
    scale, midpoint = body.opt("scale", number), body.opt("midpoint", number)
    if scale is not None and not scale > 0:
        raise FormatError(body.where("scale"), f"the scale must be a positive number, got {shown(scale)}")
    if midpoint is not None and not 0 < midpoint < 1:
        raise FormatError(body.where("midpoint"), f"the midpoint must be between 0 and 1 (exclusive), "
                                                  f"got {shown(midpoint)}")
    return Decay(kind, body.req("x", _expression), body.opt("target", _expression), scale, midpoint)


def _datetime(value: Any, path: str) -> str:
    if timestamp(string(value, path)) is None:
        raise fail(path, "a datetime", value)
    return value
