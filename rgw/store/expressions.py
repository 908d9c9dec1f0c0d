"""Typed formulas (rgw.qdrant.formula) -> the engine's `Formula` and `Expression` objects."""

from __future__ import annotations

from typing import Any

import qdrant_edge as qe

from rgw.qdrant.formula import (
    ConditionExpression,
    Constant,
    DatetimeConstant,
    DatetimeKey,
    Decay,
    DecayKind,
    Div,
    Expression,
    Formula,
    GeoDistance,
    Nary,
    NaryOp,
    PayloadVariable,
    Pow,
    ScoreVariable,
    Unary,
    UnaryOp,
)
from rgw.store.filters import engine_condition

E = qe.Expression
_NARY = {NaryOp.SUM: E.Sum, NaryOp.MULT: E.Mult}
_UNARY = {UnaryOp.NEG: E.Neg, UnaryOp.ABS: E.Abs, UnaryOp.SQRT: E.Sqrt, UnaryOp.EXP: E.Exp,
          UnaryOp.LOG10: E.Log10, UnaryOp.LN: E.Ln}
_DECAY = {DecayKind.LIN: qe.DecayKind.Lin, DecayKind.EXP: qe.DecayKind.Exp, DecayKind.GAUSS: qe.DecayKind.Gauss}


def engine_formula(formula: Formula) -> qe.Formula:
    return qe.Formula(engine_expression(formula.expression), defaults=dict(formula.defaults) or None)


def engine_expression(expression: Expression) -> Any:
    match expression:
        case Constant(value=value):
            return E.Constant(value)
        case ScoreVariable() as score:
            return E.Variable(score.text)
        case PayloadVariable(key=key):
            return E.Variable(key.text)
        case ConditionExpression(condition=condition):
            return E.Condition(engine_condition(condition))
        case GeoDistance(origin=origin, to=to):
            return E.GeoDistance(qe.GeoPoint(lon=origin.lon, lat=origin.lat), to.text)
        case DatetimeConstant(text=text):
            return E.Datetime(text)
        case DatetimeKey(key=key):
            return E.DatetimeKey(key.text)
        case Nary(op=op, args=args):
            return _NARY[op]([engine_expression(arg) for arg in args])
        case Unary(op=op, arg=arg):
            return _UNARY[op](engine_expression(arg))
        case Div(left=left, right=right, by_zero_default=default):
            return E.Div(engine_expression(left), engine_expression(right), default)
        case Pow(base=base, exponent=exponent):
            return E.Pow(engine_expression(base), engine_expression(exponent))
        case Decay(kind=kind, x=x, target=target, scale=scale, midpoint=midpoint):
            return E.Decay(_DECAY[kind], engine_expression(x), None if target is None else engine_expression(target),
                           midpoint, scale)
    raise TypeError(f"not an expression: {expression!r}")
