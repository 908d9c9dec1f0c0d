"""Points with varied payloads and filters over them, for checking the evaluator against the engine.

Everything is drawn from a seeded `random.Random`, so a failure reproduces.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

WORDS = ["red", "green", "blue", "Red", "re", "", "x y", "ünï"]
DATETIMES = [
    "2024-01-01T00:00:00Z", "2024-01-01", "2024-03-10 12:30", "2024-03-10T12:30:00.123456+02:00",
    "2023-12-31T23:59:59.999999Z", "2024-06-01T00:00:00-05:00", "2024-02-29T10:00:00", "not a date",
    "2024-01-01T00:00:00.0000005Z", " 2024-01-05", "2024-1-5T1:2:3Z", "1969-07-20T20:17:40Z",
]
KEYS = ["s", "i", "f", "b", "tags", "nums", "obj.x", "obj.y", "obj.z", "obj.z[]", "items[].k", "items[].v",
        "items[0].v", "items[].w", "items[].w[]", "mixed", "mixed[]", "n", "when", "when[]", "loc", "missing",
        '"odd.key"', "obj"]
NESTED_KEYS = ["k", "v", "w", "w[]", "deep.a"]


def points(rng: random.Random, count: int) -> list[tuple[int | str, dict[str, Any]]]:
    return [(_point_id(rng, i), payload(rng)) for i in range(count)]


def _point_id(rng: random.Random, i: int) -> int | str:
    return str(uuid.UUID(int=rng.getrandbits(128))) if i % 7 == 3 else i


def payload(rng: random.Random) -> dict[str, Any]:
    fields = {
        "s": lambda: rng.choice([*WORDS, None, [], [rng.choice(WORDS), rng.choice(WORDS)], 5]),
        "i": lambda: rng.choice([rng.randint(-3, 3), rng.randint(-3, 3), 1.0, 2.5, True, False, None,
                                 [rng.randint(-3, 3), rng.randint(-3, 3)], [], "1", 2**63 + 5]),
        "f": lambda: rng.choice([rng.uniform(-5, 5), rng.randint(-5, 5), [rng.uniform(-5, 5), "x"], None]),
        "b": lambda: rng.choice([True, False, [True, False], [False], None, 0, 1]),
        "tags": lambda: rng.sample(WORDS, rng.randint(0, 3)) if rng.random() < 0.8 else rng.choice(WORDS),
        "nums": lambda: [rng.choice([rng.randint(-3, 3), rng.uniform(-3, 3), None]) for _ in range(rng.randint(0, 4))],
        "obj": lambda: rng.choice([
            {"x": rng.randint(-3, 3), "y": rng.choice(WORDS), "z": rng.sample(range(4), rng.randint(0, 3))},
            {"x": None, "z": None}, {"y": [rng.choice(WORDS)]}, {}, [{"x": 1}], "flat"]),
        "items": lambda: rng.choice([
            [_item(rng) for _ in range(rng.randint(0, 3))], [_item(rng) for _ in range(rng.randint(1, 3))], _item(rng),
            [], [1, "a", None]]),
        "mixed": lambda: rng.choice([None, 1, -2, 1.5, "red", True, [], [None], [[None]], [1, "red"], {"a": 1},
                                     [[1, 2]], {}, [{}], "2024-01-01"]),
        "n": lambda: None,
        "when": lambda: rng.choice([*DATETIMES, [rng.choice(DATETIMES), rng.choice(DATETIMES)], 20240101, None]),
        "loc": lambda: rng.choice([_geo(rng), _geo(rng), [_geo(rng), _geo(rng)], {"lon": "1", "lat": 2}, None,
                                   {"lon": 10}, [], {"lon": 1, "lat": 2, "extra": True}]),
        "odd.key": lambda: rng.choice(WORDS),
    }
    return {name: make() for name, make in fields.items() if rng.random() < 0.75}


def _item(rng: random.Random) -> dict[str, Any]:
    item = {"k": rng.choice(WORDS), "v": rng.randint(0, 4), "w": [rng.randint(0, 4) for _ in range(rng.randint(0, 2))],
            "deep": {"a": rng.choice([1, 2, None])}}
    return {key: value for key, value in item.items() if rng.random() < 0.8}


def _geo(rng: random.Random) -> dict[str, float]:
    if rng.random() < 0.15:  # near the antimeridian, for boxes that cross it
        return {"lon": round(rng.choice([-1, 1]) * rng.uniform(175, 180), 3), "lat": round(rng.uniform(-20, 20), 3)}
    return {"lon": round(rng.uniform(-20, 20), 3), "lat": round(rng.uniform(-20, 20), 3)}


# -- filters ------------------------------------------------------------------------------------

def random_filter(rng: random.Random, ids: list[int | str], depth: int = 0, nested: bool = False) -> dict[str, Any]:
    clauses: dict[str, Any] = {}
    for clause in rng.sample(["must", "should", "must_not", "min_should"], rng.randint(1, 3)):
        conditions = [random_condition(rng, ids, depth, nested) for _ in range(rng.randint(0 if depth else 1, 3))]
        if clause == "min_should":
            clauses[clause] = {"conditions": conditions, "min_count": rng.randint(1, 2)}
        else:
            clauses[clause] = conditions
    return clauses


def random_condition(rng: random.Random, ids: list[int | str], depth: int, nested: bool) -> dict[str, Any]:
    kinds = ["field"] * 6 + ["is_empty", "is_null", "has_id", "multi"]
    if depth < 2:
        kinds += ["filter", "nested"] if not nested else ["filter"]
    kind = rng.choice(kinds)
    key = rng.choice(NESTED_KEYS if nested else KEYS)
    if kind == "is_empty":
        return {"is_empty": {"key": key}}
    if kind == "is_null":
        return {"is_null": {"key": key}}
    if kind == "has_id":
        chosen = rng.sample(ids, rng.randint(1, 4))
        return {"has_id": [_respell(rng, i) for i in chosen]}
    if kind == "filter":
        return random_filter(rng, ids, depth + 1, nested)
    if kind == "nested":
        return {"nested": {"key": rng.choice(["items", "items[]", "obj", "mixed"]),
                           "filter": random_filter(rng, ids, depth + 1, nested=True)}}
    checks = rng.sample(list(CHECKS), 2 if kind == "multi" else 1)
    condition: dict[str, Any] = {"key": key}
    for check in checks:
        condition[check] = CHECKS[check](rng)
    return condition


def _respell(rng: random.Random, point_id: int | str) -> int | str:
    """UUIDs as clients may write them: upper case or without hyphens."""
    if isinstance(point_id, str):
        return rng.choice([point_id, point_id.upper(), point_id.replace("-", "")])
    return point_id


def _match(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["value_s", "value_i", "value_b", "any_s", "any_i", "except_s", "except_i", "prefix"])
    if kind == "value_s":
        return {"value": rng.choice(WORDS)}
    if kind == "value_i":
        return {"value": rng.randint(-3, 4)}
    if kind == "value_b":
        return {"value": rng.choice([True, False])}
    if kind == "prefix":
        return {"prefix": rng.choice(["r", "R", "re", "", "gr", "ü"])}
    strings = rng.sample(WORDS, rng.randint(0, 3))
    numbers = rng.sample(range(-3, 5), rng.randint(1, 3))
    operator = kind.split("_")[0]
    return {operator: strings if kind.endswith("_s") else numbers}


def _range(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.35:
        bounds = rng.sample([*DATETIMES[:7], "2024-01-01T00:00:00.000000Z", "2024-03-10T12:30:00Z"], 2)
    else:
        bounds = [rng.choice([rng.randint(-4, 4), round(rng.uniform(-4, 4), 2)]) for _ in range(2)]
    return dict(zip(rng.sample(["lt", "gt", "gte", "lte"], rng.randint(1, 2)), bounds, strict=False))


def _values_count(rng: random.Random) -> dict[str, int]:
    return {rng.choice(["lt", "gt", "gte", "lte"]): rng.randint(0, 3)}


def _bbox(rng: random.Random) -> dict[str, Any]:
    west, east = sorted([rng.uniform(-25, 25), rng.uniform(-25, 25)])
    if rng.random() < 0.2:
        west, east = rng.uniform(170, 179), rng.uniform(-179, -170)
    south, north = sorted([rng.uniform(-25, 25), rng.uniform(-25, 25)])
    return {"top_left": {"lon": west, "lat": north}, "bottom_right": {"lon": east, "lat": south}}


def _radius(rng: random.Random) -> dict[str, Any]:
    return {"center": _geo(rng), "radius": rng.uniform(1e5, 2e6)}


def _polygon(rng: random.Random) -> dict[str, Any]:
    cx, cy, r = rng.uniform(-10, 10), rng.uniform(-10, 10), rng.uniform(5, 20)
    ring = [{"lon": cx - r, "lat": cy - r}, {"lon": cx + r, "lat": cy - r}, {"lon": cx + r, "lat": cy + r},
            {"lon": cx - r / 3, "lat": cy}, {"lon": cx - r, "lat": cy + r}, {"lon": cx - r, "lat": cy - r}]
    hole = [{"lon": cx, "lat": cy}, {"lon": cx + r / 2, "lat": cy}, {"lon": cx + r / 2, "lat": cy + r / 2},
            {"lon": cx, "lat": cy}]
    polygon: dict[str, Any] = {"exterior": {"points": ring}}
    if rng.random() < 0.5:
        polygon["interiors"] = [{"points": hole}]
    return polygon


CHECKS = {
    "match": _match,
    "range": _range,
    "values_count": _values_count,
    "is_empty": lambda rng: rng.choice([True, False]),
    "is_null": lambda rng: rng.choice([True, False]),
    "geo_bounding_box": _bbox,
    "geo_radius": _radius,
    "geo_polygon": _polygon,
}
