"""Result cache: full answers kept per collection and normalised request, bounded in bytes.

Semantics follow RFC 5861: an entry is fresh for the policy's `cache_ttl_s`; after that it may
still be served for `stale_if_error_s` when every earlier source failed. Any acknowledged
write to a collection bumps its generation, which makes every entry of that collection stale
at once: a fresh hit never hides an acknowledged write, while stale-if-error may still serve
it, labelled with its age.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import cachetools

DEFAULT_MAX_BYTES = 256 << 20


@dataclass(frozen=True, slots=True)
class Cached:
    body: bytes
    content_type: str
    stored_at: float  # monotonic
    generation: int
    coverage: float
    source: str  # what answered originally, e.g. "primary"

    def age(self, now: float) -> float:
        return now - self.stored_at


def request_key(collection: str, method: str, path: str, body: bytes | None) -> bytes:
    """The request's identity: collection, operation and its exact body (vector, filter, limit, using...).

    Keyed on bytes, not on re-serialised JSON: parsing every query on the hot path to sort its
    keys cost more than everything else the cache does. The same client sends the same bytes
    for the same question; a differently ordered body is only a miss, never a wrong answer.
    """
    digest = hashlib.blake2b(body or b"", digest_size=16)
    digest.update(f"\0{collection}\0{method}\0{path.partition('?')[0]}".encode())
    return digest.digest()


class ResultCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._entries: cachetools.LRUCache[bytes, Cached] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=lambda entry: len(entry.body) + 128)
        self._generations: dict[str, int] = {}
        self.hits_fresh = 0
        self.hits_stale = 0
        self.misses = 0

    def generation(self, collection: str) -> int:
        return self._generations.get(collection, 0)

    def invalidate(self, collection: str) -> None:
        """An acknowledged write: nothing cached for the collection is fresh any more."""
        self._generations[collection] = self.generation(collection) + 1

    def store(self, key: bytes, collection: str, body: bytes, content_type: str, coverage: float,
              source: str) -> None:
        if len(body) + 128 > self._entries.maxsize:
            return
        self._entries[key] = Cached(body, content_type, time.monotonic(), self.generation(collection), coverage,
                                    source)

    def fresh(self, key: bytes, collection: str, ttl_s: float) -> Cached | None:
        """An entry within its TTL and written after the collection's last write, if any."""
        entry = self._entries.get(key)
        if entry is None or entry.generation != self.generation(collection) or entry.age(time.monotonic()) > ttl_s:
            self.misses += 1
            return None
        self.hits_fresh += 1
        return entry

    def stale_if_error(self, key: bytes, ttl_s: float, stale_s: float) -> Cached | None:
        """An entry still inside its stale-if-error window, to serve when no live source could."""
        entry = self._entries.get(key)
        if entry is None or entry.age(time.monotonic()) > ttl_s + stale_s:
            return None
        self.hits_stale += 1
        return entry

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": int(self._entries.currsize),
                "max_bytes": int(self._entries.maxsize), "hits_fresh": self.hits_fresh,
                "hits_stale": self.hits_stale, "misses": self.misses}
