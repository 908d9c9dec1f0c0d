"""Random payloads and Qdrant filters over them, for checks that pushed-down filters change no answer:
values of every JSON type under plain, nested, array and dotted keys, and filters mixing every
clause and condition kind (pushable or not)."""

from __future__ import annotations

import random
from typing import Any

NUMBERS: list[Any] = [0, 1, -1, 2, 3, 2.5, -1.5, 3.0, 1e-6, -1e-6, 2**53 + 1, 2**62, "2", True, None]
STRINGS: list[Any] = ["red", "blue", "Red", "", "2024-01-01T00:00:00Z", "x" * 300, "a.b", 7, False, None]
KEYS = ["n", "tag", "flag", "obj.k", "obj.v", "obj[].k", "arr[].v", "arr[0].v", "text", "missing", '"a.b"']
BOUNDS: list[float] = [-2, -1.5, -1e-6, 0, 1e-6, 0.5, 1, 2, 2.5, 3, 2**53, 2**60]


def _value(rng: random.Random, pool: list[Any]) -> Any:
    if rng.random() < 0.25:
        return [rng.choice(pool) for _ in range(rng.randint(0, 3))]
    return rng.choice(pool)


def random_payload(rng: random.Random) -> dict[str, Any]:
    words = ["alpha", *rng.sample(["beta", "gamma", "delta", "red", "blue"], rng.randint(0, 3))]
    payload: dict[str, Any] = {"text": " ".join(words)}
    makers = {"n": lambda: _value(rng, NUMBERS), "tag": lambda: _value(rng, STRINGS),
              "flag": lambda: _value(rng, [True, False, "true", 1, None]),
              "obj": lambda: rng.choice([{"k": _value(rng, STRINGS), "v": _value(rng, NUMBERS)},
                                         [{"k": rng.choice(STRINGS)}, {"v": rng.choice(NUMBERS)}], "flat"]),
              "arr": lambda: [{"v": rng.choice(NUMBERS)} for _ in range(rng.randint(0, 2))],
              "a.b": lambda: rng.choice(STRINGS)}
    for key, make in makers.items():
        if rng.random() < 0.75:
            payload[key] = make()
    return payload


def _field(rng: random.Random) -> dict[str, Any]:
    key = rng.choice(KEYS)
    kind = rng.choice(["value", "value", "any", "except", "range", "range", "is_empty", "two"])
    if kind == "value":
        return {"key": key, "match": {"value": rng.choice([*STRINGS[:7], 0, 1, 2, 3, 2**53 + 1, True, False])}}
    if kind == "any":
        pool = rng.choice([["red", "blue", "Red", "", "a.b"], [0, 1, 2, 3, -1]])
        return {"key": key, "match": {"any": rng.sample(pool, rng.randint(0, 3))}}
    if kind == "except":
        return {"key": key, "match": {"except": rng.sample(["red", "blue"], rng.randint(0, 2))}}
    if kind == "is_empty":
        return {"key": key, "is_empty": rng.random() < 0.5}
    bounds = {b: rng.choice(BOUNDS) for b in rng.sample(["gt", "gte", "lt", "lte"], rng.randint(1, 3))}
    if kind == "two":  # a match and a range in one condition: one of them must hold
        return {"key": key, "match": {"value": rng.choice([1, "red"])}, "range": bounds}
    return {"key": key, "range": bounds}


def random_filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    def condition() -> dict[str, Any]:
        roll = rng.random()
        if roll < 0.1:
            return {"has_id": rng.sample(range(120), rng.randint(1, 40))}
        if roll < 0.2 and depth < 2:
            return random_filter(rng, depth + 1)
        return _field(rng)

    clauses = rng.sample(["must", "must", "should", "must_not", "min_should"], rng.randint(1, 3))
    out: dict[str, Any] = {}
    for clause in clauses:
        conditions = [condition() for _ in range(rng.randint(1, 3))]
        if clause == "min_should":
            out[clause] = {"conditions": conditions, "min_count": rng.randint(1, 2)}
        else:
            out[clause] = conditions
    return out
