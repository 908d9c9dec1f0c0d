"""Result cache: full answers kept per collection and normalised request, bounded in bytes.

Semantics follow RFC 5861: an entry is fresh for the policy's `cache_ttl_s`; after that it may
still be served for `stale_if_error_s` when every earlier source failed. Any acknowledged
write to a collection bumps its generation, which makes every entry of that collection stale
at once: a fresh hit never hides an acknowledged write, while stale-if-error may still serve
it, labelled with its age.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 256 << 20
ENTRY_OVERHEAD = 128  # bytes counted per entry beyond its body and its key's body


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (rgw.compiled)
class Cached:
    body: bytes
    content_type: str
    stored_at: float  # monotonic
    generation: int
    coverage: float
    source: str  # what answered originally, e.g. "primary"
    size: int  # bytes counted against the cache's bound

    def __init__(self, body: bytes, content_type: str, stored_at: float, generation: int, coverage: float,
                 source: str, size: int) -> None:
        self.body, self.content_type, self.stored_at, self.generation = body, content_type, stored_at, generation
        self.coverage, self.source, self.size = coverage, source, size

    def age(self, now: float) -> float:
        return now - self.stored_at


Key = tuple[str, str, str, bytes]  # collection, method, path without query string, body


def request_key(collection: str, method: str, path: str, body: bytes | None) -> Key:
    """The request's identity: collection, operation and its exact body (vector, filter, limit, using...).

    Keyed on bytes, not on re-serialised JSON: parsing every query on the hot path to sort its
    keys cost more than everything else the cache does. The same client sends the same bytes
    for the same question; a differently ordered body is only a miss, never a wrong answer.
    The key holds the body itself, so a lookup compares exact bytes (no digest can collide) and
    costs one hash of the body (CPython's, ~1 µs over 4 KB) instead of a blake2b (~6 µs); the
    body's bytes count against the cache's size like the answer's.
    """
    return collection, method, path.partition("?")[0], body or b""


class ResultCache:
    """An LRU bounded in bytes: answer body + key body + ENTRY_OVERHEAD per entry.

    An OrderedDict kept oldest first, in this compiled module (setup.py): storing every answer is
    on the read path, where cachetools' pure-Python LRUCache insert was the largest item left once
    the rest was compiled (replacing it saved 9k of 166k instructions per query).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[Key, Cached] = OrderedDict()
        self._bytes = 0
        self._generations: dict[str, int] = {}
        self.hits_fresh = 0
        self.hits_stale = 0
        self.misses = 0

    def generation(self, collection: str) -> int:
        return self._generations.get(collection, 0)

    def invalidate(self, collection: str) -> None:
        """An acknowledged write: nothing cached for the collection is fresh any more."""
        self._generations[collection] = self.generation(collection) + 1

    def store(self, key: Key, collection: str, body: bytes, content_type: str, coverage: float,
              source: str) -> None:
        size = len(body) + len(key[3]) + ENTRY_OVERHEAD
        if size > self._max_bytes:
            return
        entries = self._entries
        replaced = entries.pop(key, None)
        if replaced is not None:
            self._bytes -= replaced.size
        entries[key] = Cached(body, content_type, time.monotonic(), self._generations.get(collection, 0),
                              coverage, source, size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, evicted = entries.popitem(last=False)
            self._bytes -= evicted.size

    def fresh(self, key: Key, collection: str, ttl_s: float) -> Cached | None:
        """An entry within its TTL and written after the collection's last write, if any."""
        entry = self._used(key)
        if entry is None or entry.generation != self.generation(collection) or entry.age(time.monotonic()) > ttl_s:
            self.misses += 1
            return None
        self.hits_fresh += 1
        return entry

    def stale_if_error(self, key: Key, ttl_s: float, stale_s: float) -> Cached | None:
        """An entry still inside its stale-if-error window, to serve when no live source could."""
        entry = self._used(key)
        if entry is None or entry.age(time.monotonic()) > ttl_s + stale_s:
            return None
        self.hits_stale += 1
        return entry

    def _used(self, key: Key) -> Cached | None:
        """The entry for `key`, now the most recently used."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": self._bytes, "max_bytes": self._max_bytes,
                "hits_fresh": self.hits_fresh, "hits_stale": self.hits_stale, "misses": self.misses}
