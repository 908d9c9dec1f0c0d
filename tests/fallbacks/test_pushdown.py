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
from tests.fallbacks.random_filters import random_filter, random_payload


async def test_pushed_down_filters_keep_answers_and_scores_exact(docs: Collection) -> None:
    rng = random.Random(11)
    corpus = {pid: random_payload(rng) for pid in range(120)}
    await docs.upsert(corpus)
    await docs.catch_up()
    scores = {hit.id: hit.score for hit in docs.index.search("docs", "alpha red", 1000)}  # nothing pushed down
    assert set(scores) == set(corpus)  # every point holds "alpha": every filtered point is a candidate

    for _ in range(300):
        filter_json = random_filter(rng)
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


MIXED_RANGES = [{"gte": 1, "lt": 2.5}, {"gt": 1, "lte": 2.5}, {"gte": 0.5, "lte": 3}, {"gt": 1.5, "lt": 3},
                {"gt": 0.5, "lt": 2}, {"gte": -1.5, "lte": 1}, {"gt": -2, "lt": -0.5}, {"gte": 2.5, "lte": 2.5}]


@pytest.mark.parametrize("bounds", MIXED_RANGES)
async def test_ranges_with_a_whole_and_a_fractional_bound_lose_nothing(docs: Collection,
                                                                       bounds: dict[str, float]) -> None:
    """The bounds the parser cannot mix are moved outwards; a point on either side of each bound decides."""
    values = [v / 2 for v in range(-6, 9)]  # -3.0 .. 4.0 in halves: on, just inside and outside every bound
    corpus = {pid: {"text": "alpha", "n": value} for pid, value in enumerate(values)}
    await docs.upsert(corpus)
    await docs.catch_up()
    filter_json = {"must": [{"key": "n", "range": bounds}]}
    parsed = parse_filter(filter_json)
    assert parsed is not None
    selected = {pid for pid, payload in corpus.items() if evaluate(parsed, pid, payload)}
    assert selected  # every range holds some of the values
    assert {hit.id for hit in docs.index.search("docs", "alpha", 100, filter_json)} == selected
