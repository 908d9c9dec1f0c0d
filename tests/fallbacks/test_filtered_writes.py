"""Writes selecting points by filter find their candidates through the part of the filter pushed
down into Tantivy: the index they leave is exactly the one a full scan of every payload leaves."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rgw.fallbacks import lexical_writes
from rgw.fallbacks.lexical import LexicalIndex
from tests.fallbacks.helpers import Collection
from tests.fallbacks.random_filters import STRINGS, random_filter, random_payload

IDS = range(120)  # the ids `random_filter`'s has_id conditions pick from
PAYLOAD_KEYS = ["tag", "n", "obj", "obj.k", "arr[].v", "flag", "text", "missing"]
QUERY = "alpha red"  # every point's text holds "alpha": a search finds every point its filter selects


@pytest.fixture
def scanned(tmp_path: Path) -> Iterator[LexicalIndex]:
    """A second index of the same journal, whose filtered writes read every payload."""
    index = LexicalIndex(tmp_path / "scanned", lambda collection: "text")
    yield index
    index.close()


def _some_payload(rng: random.Random) -> dict[str, Any]:
    return {key: value for key, value in random_payload(rng).items() if rng.random() < 0.4}


def _filtered(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A journaled write (op, body) selecting its points by a random filter."""
    op = rng.choice(["delete", "set_payload", "set_payload", "overwrite_payload", "delete_payload",
                     "clear_payload", "batch"])
    body: dict[str, Any] = {"filter": random_filter(rng)}
    if op in ("set_payload", "overwrite_payload"):
        body["payload"] = _some_payload(rng)
        if op == "set_payload" and rng.random() < 0.2:
            body["key"] = "obj"
    elif op == "delete_payload":
        body["keys"] = rng.sample(PAYLOAD_KEYS, rng.randint(1, 3))
    elif op == "batch":  # the second operation sees the first one's effect before any commit
        body = {"operations": [{"set_payload": {"payload": {"tag": rng.choice(STRINGS[:4])},
                                                "filter": random_filter(rng)}},
                               {"delete": {"filter": random_filter(rng)}}]}
    return op, body


def _state(index: LexicalIndex, filters: list[dict[str, Any]]) -> tuple[Any, ...]:
    points = sorted(index.points("docs"), key=lambda point: str(point[0]))
    stats = index.stats()["docs"]
    # Scores are left out: BM25's statistics move with Tantivy's background merges, which differ
    # between two indexes however alike their writes.
    searches = [sorted((str(hit.id), hit.payload) for hit in index.search("docs", QUERY, 1000, f))
                for f in filters]
    return points, stats.documents, stats.stale, searches


async def test_filtered_writes_leave_the_index_a_full_scan_leaves(
        docs: Collection, scanned: LexicalIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    pushed = docs.index
    narrowing = lexical_writes.narrowing
    narrowed: list[bool] = []

    def spied(filter_: Any, index: Any) -> Any:
        query = narrowing(filter_, index)
        narrowed.append(query is not None)
        return query

    monkeypatch.setattr(lexical_writes, "narrowing", spied)
    read = 0
    for _ in range(40):
        # Each batch upserts points, then selects by filter, in one commit: candidates come from
        # the committed index (narrowed) and from the batch's own writes (not yet in Tantivy).
        for _ in range(2):
            await docs.upsert({pid: random_payload(rng) for pid in rng.sample(IDS, 30)})
            for _ in range(rng.randint(1, 3)):
                await docs.write(*_filtered(rng))
        entries = await docs.journal.read(read, 100_000)
        read = entries[-1].lsn
        pushed.apply(entries)
        with monkeypatch.context() as full_scan:
            full_scan.setattr(lexical_writes, "narrowing", lambda filter_, index: None)
            scanned.apply(entries)
        filters = [random_filter(rng) for _ in range(4)]
        state = _state(pushed, filters)
        assert state == _state(scanned, filters)
        assert state[2] is None  # not stale: every write was applied
    assert sum(narrowed) >= len(narrowed) / 3  # most filters push something down
    assert not all(narrowed)  # and the full scan still serves those that do not
