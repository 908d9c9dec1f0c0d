"""Filters pushed down into Tantivy only narrow the candidates: answers and BM25 scores stay exactly
those of the exact evaluation, whatever the payloads and filters."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from rgw.fallbacks.lexical_collection import CollectionIndex, IndexState, SpecSource
from rgw.fallbacks.lexical_pushdown import narrowing
from rgw.qdrant.evaluate import evaluate
from rgw.qdrant.filters import parse_filter
from tests.fallbacks.helpers import Collection

NUMBERS: list[Any] = [0, 1, -1, 2, 3, 2.5, -1.5, 3.0, 1e-6, -1e-6, 2**53 + 1, 2**62, "2", True, None]
STRINGS: list[Any] = ["red", "blue", "Red", "", "2024-01-01T00:00:00Z", "x" * 300, "a.b", 7, False, None]
KEYS = ["n", "tag", "flag", "obj.k", "obj.v", "obj[].k", "arr[].v", "arr[0].v", "text", "missing", '"a.b"']
BOUNDS: list[float] = [-2, -1.5, -1e-6, 0, 1e-6, 0.5, 1, 2, 2.5, 3, 2**53, 2**60]


def _value(rng: random.Random, pool: list[Any]) -> Any:
    if rng.random() < 0.25:
        return [rng.choice(pool) for _ in range(rng.randint(0, 3))]
    return rng.choice(pool)


def _payload(rng: random.Random) -> dict[str, Any]:
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


def _filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    def condition() -> dict[str, Any]:
        roll = rng.random()
        if roll < 0.1:
            return {"has_id": rng.sample(range(120), rng.randint(1, 40))}
        if roll < 0.2 and depth < 2:
            return _filter(rng, depth + 1)
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


async def test_pushed_down_filters_keep_answers_and_scores_exact(docs: Collection) -> None:
    rng = random.Random(11)
    corpus = {pid: _payload(rng) for pid in range(120)}
    await docs.upsert(corpus)
    await docs.catch_up()
    scores = {hit.id: hit.score for hit in docs.index.search("docs", "alpha red", 1000)}  # nothing pushed down
    assert set(scores) == set(corpus)  # every point holds "alpha": every filtered point is a candidate

    for _ in range(300):
        filter_json = _filter(rng)
        parsed = parse_filter(filter_json)
        assert parsed is not None
        selected = {pid for pid, payload in corpus.items() if evaluate(parsed, pid, payload)}
        everything = docs.index.search("docs", "alpha red", 1000, filter_json)
        assert {hit.id for hit in everything} == selected, filter_json
        assert all(hit.score == scores[hit.id] for hit in everything), filter_json
        expected = sorted(selected, key=lambda pid: -scores[pid])[:5]
        top = docs.index.search("docs", "alpha red", 5, filter_json)
        assert sorted(scores[h.id] for h in top) == sorted(scores[pid] for pid in expected), filter_json


@pytest.fixture
def index(tmp_path: Path) -> CollectionIndex:
    state = IndexState(1, "text", SpecSource("create", {"vectors": {"size": 2, "distance": "Dot"}}))
    made = CollectionIndex.create(tmp_path / "g-test", state)
    made.commit({"1": {"text": "x", "tag": "red", "n": 2}, "2": {"text": "x", "tag": "blue", "n": 5}}, state)
    return made


@pytest.mark.parametrize(("filter_json", "narrows"), [
    ({"must": [{"key": "tag", "match": {"value": "red"}}]}, {"1"}),
    ({"must": [{"key": "n", "range": {"gte": 1.5, "lt": 3}}]}, {"1"}),
    ({"must": [{"key": "tag", "match": {"any": ["blue", "green"]}}, {"key": "n", "range": {"gt": 1}}]}, {"2"}),
    ({"should": [{"has_id": [1]}, {"key": "tag", "match": {"value": "blue"}}]}, {"1", "2"}),
    ({"must": [{"has_id": [2]}], "must_not": [{"key": "tag", "match": {"value": "blue"}}]}, {"2"}),
    ({"must_not": [{"key": "tag", "match": {"value": "red"}}]}, None),
    ({"should": [{"key": "tag", "match": {"value": "red"}}, {"is_empty": {"key": "tag"}}]}, None),
    ({"must": [{"key": "text", "match": {"value": "x"}}]}, None),  # the text field is not among the values
    ({"must": [{"key": "when", "match": {"value": "2024-01-01"}}]}, None),  # Tantivy would index a date
])
def test_what_is_pushed_down(index: CollectionIndex, filter_json: dict[str, Any], narrows: set[str] | None) -> None:
    parsed = parse_filter(filter_json)
    assert parsed is not None
    query = narrowing(parsed, index)
    if narrows is None:
        assert query is None
        return
    assert query is not None
    searcher = index.searcher()
    assert {searcher.doc(address).get_first("id") for _, address in searcher.search(query, 10).hits} == narrows
