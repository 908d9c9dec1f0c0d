"""The lexical index as a source in the read chain: BM25 hits shaped as Qdrant answers them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from rgw.fallbacks.lexical import LexicalDeclined
from rgw.fallbacks.lexical_feed import LexicalFeeder

DEFAULT_LIMIT = 10


@dataclass(frozen=True, slots=True)
class LexicalAnswer:
    points: list[dict[str, Any]]  # Qdrant ScoredPoint shape, BM25 scores
    coverage: float
    staleness_s: float


class LexicalSource(Protocol):
    async def search(self, collection: str, text: str, query: dict[str, Any]) -> LexicalAnswer:
        """BM25 hits for `text`, honouring the Qdrant query's filter, limit, offset and with_payload."""
        ...


def _select(payload: dict[str, Any] | None, with_payload: Any) -> dict[str, Any] | None:
    """Qdrant's with_payload: true/false, a list of keys, or {"include": [...]} / {"exclude": [...]}."""
    if not with_payload or payload is None:
        return None
    if with_payload is True:
        return payload
    if isinstance(with_payload, list):
        return {k: v for k, v in payload.items() if k in with_payload}
    if isinstance(with_payload, dict) and isinstance(with_payload.get("include"), list):
        return {k: v for k, v in payload.items() if k in with_payload["include"]}
    if isinstance(with_payload, dict) and isinstance(with_payload.get("exclude"), list):
        return {k: v for k, v in payload.items() if k not in with_payload["exclude"]}
    raise LexicalDeclined(f"with_payload {with_payload!r} is not understood")


def _count(query: dict[str, Any], key: str, default: int) -> int:
    value = query.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LexicalDeclined(f"{key} must be a non-negative integer, got {value!r}")
    return value


class LexicalFallback:
    def __init__(self, feeder: LexicalFeeder) -> None:
        self._feeder = feeder

    async def search(self, collection: str, text: str, query: dict[str, Any]) -> LexicalAnswer:
        limit = _count(query, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
        offset = _count(query, "offset", 0)
        with_payload = query.get("with_payload", False)
        # Tantivy releases the GIL while it searches: a large collection does not stall the loop.
        hits = await asyncio.to_thread(self._feeder.index.search, collection, text, limit + offset,
                                       query.get("filter"), True)
        points = [{"id": hit.id, "version": 0, "score": hit.score, "payload": _select(hit.payload, with_payload),
                   "vector": None} for hit in hits[offset:]]
        # Coverage: the share of the collection's points that have words to be found by.
        coverage = self._feeder.index.coverage(collection)
        return LexicalAnswer(points, coverage=coverage, staleness_s=self._feeder.lag_seconds())
