"""Malformed search bodies never crash the store or get a 5xx: every field of a set of valid
bodies (each read form) is replaced, one at a time, by values of the wrong type or range, and
a fixed-seed sample of bodies gets several changes and removals at once. 501 is allowed only
where it names a feature."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore

C = "fuzzed"
SPARSE = {"indices": [1], "values": [1.0]}
BASES: list[tuple[str, dict[str, Any]]] = [
    ("query", {"query": [1, 0, 0], "using": "d", "limit": 3}),
    ("query", {"prefetch": [{"query": [1, 0, 0], "using": "d", "limit": 5}, {"query": SPARSE, "using": "s"}],
               "query": {"rrf": {"k": 3, "weights": [1, 2]}}, "limit": 3}),
    ("query", {"prefetch": {"query": [1, 0, 0], "using": "d"}, "query": {"formula": {
        "sum": ["$score", {"mult": [0.1, "n"]}, {"gauss_decay": {"x": "n", "target": 3, "scale": 2}},
                {"div": {"left": 1, "right": "n", "by_zero_default": 0}}]}, "defaults": {"n": 0}}}),
    ("query", {"query": {"recommend": {"positive": [1, 2], "negative": [3], "strategy": "best_score"}},
               "using": "d", "lookup_from": {"collection": C, "vector": "d"}}),
    ("query", {"query": {"recommend": {"positive": [1, [[1, 0]]], "negative": [3]}}, "using": "m"}),
    ("query", {"query": {"discover": {"target": 1, "context": [{"positive": 2, "negative": 3}]}}, "using": "d"}),
    ("query", {"query": {"context": {"positive": 2, "negative": 3}}, "using": "s"}),
    ("query", {"query": {"nearest": SPARSE, "mmr": {"diversity": 0.5, "candidates_limit": 10}}, "using": "s"}),
    ("query", {"query": {"nearest": [[1, 0]], "mmr": {"diversity": 0.5}}, "using": "m"}),
    ("query", {"query": {"order_by": {"key": "n", "direction": "desc", "start_from": 3}}}),
    ("query", {"query": {"relevance_feedback": {"target": 1, "feedback": [{"example": 2, "score": 1}],
                                                "strategy": {"naive": {"a": 1, "b": 1, "c": 1}}}}, "using": "d"}),
    ("query/groups", {"query": [1, 0, 0], "using": "d", "group_by": "g", "group_size": 2, "with_lookup": C}),
    ("query/groups", {"prefetch": [{"query": {"nearest": [1, 0, 0], "mmr": {}}, "using": "d"},
                                   {"query": 3, "using": "d", "lookup_from": {"collection": C}}],
                      "query": {"formula": {"mult": ["$score", "n"]}, "defaults": {"n": 1}}, "group_by": "t",
                      "limit": 2, "with_lookup": {"collection": C, "with_vectors": ["d"]}}),
    ("query/batch", {"searches": [{"query": [1, 0, 0], "using": "d"}, {"query": {"sample": "random"}}]}),
    ("search/matrix/pairs", {"using": "d", "sample": 5, "limit": 2, "filter": {"must": [{"key": "n",
                                                                                       "range": {"gt": 2}}]}}),
    ("recommend", {"positive": [1], "negative": [2], "using": "d", "limit": 3}),
    ("discover", {"target": 1, "context": [{"positive": 2, "negative": 3}], "using": "d", "limit": 3}),
    ("search/groups", {"vector": {"name": "d", "vector": [1, 0, 0]}, "group_by": "t", "group_size": 2,
                       "limit": 3}),
]
VALUES: list[Any] = [None, -1, 0, 2**70, 1.5, "", "d", "$score", True, [], [1, 2, 3], [[1, 2]], {}, SPARSE,
                     "936da01f-9abd-4d9d-80c7-02af85c822a8"]


@pytest.fixture(scope="module")
def fuzzed(store: RunningStore) -> Iterator[str]:
    body = {"vectors": {"d": {"size": 3, "distance": "Cosine"},
                        "m": {"size": 2, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}},
            "sparse_vectors": {"s": {}}}
    assert store.http("PUT", f"/collections/{C}", body)[0] == 200
    points = [{"id": i, "vector": {"d": [1, i, 0], "m": [[1, i], [i, 1]], "s": {"indices": [i % 5, 7],
                                                                                 "values": [1.0, 0.5]}},
               "payload": {"n": i, "g": f"g{i % 3}", "t": ["a", "b"][: i % 3]}} for i in range(1, 31)]
    assert store.http("PUT", f"/collections/{C}/points?wait=true", {"points": points})[0] == 200
    assert store.http("PUT", f"/collections/{C}/index", {"field_name": "n", "field_schema": "integer"})[0] == 200
    yield C


def places(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (the root included)."""
    yield at
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from places(child, (*at, key))


def replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    out = copy.deepcopy(value)
    holder = out
    for key in at[:-1]:
        holder = holder[key]
    holder[at[-1]] = copy.deepcopy(new)
    return out


def removed(value: Any, at: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(value)
    holder = out
    for key in at[:-1]:
        holder = holder[key]
    del holder[at[-1]]
    return out


def answer_is_not_a_crash(store: RunningStore, endpoint: str, body: Any) -> None:
    status, answer = store.http("POST", f"/collections/{C}/points/{endpoint}", body)
    assert status < 500 or (status == 501 and "Not implemented" in answer["status"]["error"]), (body, answer)
    if status >= 400:
        assert set(answer) == {"status", "time"} and answer["status"]["error"]


@pytest.mark.parametrize(("endpoint", "base"), BASES)
def test_every_field_replaced_by_a_wrong_value(store: RunningStore, fuzzed: str, endpoint: str,
                                               base: dict[str, Any]) -> None:
    assert store.http("POST", f"/collections/{C}/points/{endpoint}", base)[0] == 200
    for at in places(base):
        for value in VALUES:
            answer_is_not_a_crash(store, endpoint, replaced(base, at, value))


def test_several_changes_at_once(store: RunningStore, fuzzed: str) -> None:
    rng = random.Random(16)
    for _ in range(600):
        endpoint, body = rng.choice(BASES)
        for _ in range(rng.randint(2, 4)):
            at = rng.choice(list(places(body)))
            body = removed(body, at) if at and rng.random() < 0.3 else replaced(body, at, rng.choice(VALUES))
        answer_is_not_a_crash(store, endpoint, body)
    status, answer = store.http("POST", f"/collections/{C}/points/count", {})
    assert status == 200 and answer["result"]["count"] == 30
