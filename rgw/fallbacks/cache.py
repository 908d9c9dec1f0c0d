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
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 256 << 20
ENTRY_OVERHEAD = 128  # bytes counted per entry beyond its body and its key's body
# Entries are filed by a sample of their request body, and told apart by comparing the whole body
# (below); a bucket holds at most this many, so bodies made to share a sample cost a bounded scan.
SAMPLE_BYTES = 64
MAX_PER_BUCKET = 8


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (rgw.compiled)
class Cached:
    request: bytes  # the request body it answers, compared whole on lookup
    body: bytes
    content_type: str
    stored_at: float  # monotonic
    generation: int
    coverage: float
    source: str  # what answered originally, e.g. "primary"
    size: int  # bytes counted against the cache's bound

    def __init__(self, request: bytes, body: bytes, content_type: str, stored_at: float, generation: int,
                 coverage: float, source: str, size: int) -> None:
        self.request, self.body, self.content_type, self.stored_at = request, body, content_type, stored_at
        self.generation, self.coverage, self.source, self.size = generation, coverage, source, size

    def age(self, now: float) -> float:
        return now - self.stored_at


Key = tuple[str, str, str, bytes]  # collection, method, path with its query string, body
_Bucket = tuple[str, str, str, int, bytes, bytes]  # collection, method, path, body length, its first and last bytes


def request_key(collection: str, method: str, path: str, body: bytes | None) -> Key:
    """The request's identity: collection, operation and its exact body (vector, filter, limit, using...).

    Keyed on bytes, not on re-serialised JSON: parsing every query on the hot path to sort its
    keys cost more than everything else the cache does. The same client sends the same bytes
    for the same question; a differently ordered body is only a miss, never a wrong answer.
    The body's bytes count against the cache's size like the answer's.
    """
    return collection, method, path, body or b""


def _bucket(key: Key) -> _Bucket:
    body = key[3]
    return key[0], key[1], key[2], len(body), body[:SAMPLE_BYTES], body[-SAMPLE_BYTES:]


def _index(bucket: list[Cached], request: bytes) -> int:
    """Where the entry answering exactly `request` is in its bucket, or -1."""
    for i in range(len(bucket)):
        if bucket[i].request == request:
            return i
    return -1


class ResultCache:
    """An LRU bounded in bytes: answer body + key body + ENTRY_OVERHEAD per entry.

    Every answered read is stored, so storing is on the read path. Hashing a whole 4 KB query body
    (CPython's SipHash) was an eighth of the gateway's instructions per query; a bucket keyed by the
    body's length and its first and last SAMPLE_BYTES costs a few hundred. Within a bucket, entries
    are told apart by comparing whole bodies, so an answer is only ever served for exactly the same
    bytes; MAX_PER_BUCKET bounds what a client sending bodies that share a sample can make a lookup
    scan (the dictionary's hash is still CPython's keyed one, so buckets themselves cannot be made
    to collide). Buckets are kept least recently used first, in an OrderedDict in this compiled
    module (setup.py).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # monotonic seconds; tests drive a virtual one
        self._max_bytes = max_bytes
        self._buckets: OrderedDict[_Bucket, list[Cached]] = OrderedDict()
        self._entries = 0
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
        request = key[3]
        size = len(body) + len(request) + ENTRY_OVERHEAD
        if size > self._max_bytes:
            return
        filed = _bucket(key)
        buckets = self._buckets
        bucket = buckets.get(filed)
        if bucket is None:
            bucket = buckets[filed] = []
        else:
            buckets.move_to_end(filed)
            if (same := _index(bucket, request)) >= 0:
                self._drop(bucket, same)
            elif len(bucket) >= MAX_PER_BUCKET:
                self._drop(bucket, 0)
        bucket.append(Cached(request, body, content_type, self.clock(), self._generations.get(collection, 0),
                             coverage, source, size))
        self._entries += 1
        self._bytes += size
        while self._bytes > self._max_bytes:
            oldest_filed, oldest = next(iter(buckets.items()))
            self._drop(oldest, 0)
            if not oldest:
                del buckets[oldest_filed]

    def _drop(self, bucket: list[Cached], index: int) -> None:
        self._bytes -= bucket.pop(index).size
        self._entries -= 1

    def fresh(self, key: Key, collection: str, ttl_s: float) -> Cached | None:
        """An entry within its TTL and written after the collection's last write, if any."""
        entry = self._used(key)
        if entry is None or entry.generation != self.generation(collection) or entry.age(self.clock()) > ttl_s:
            self.misses += 1
            return None
        self.hits_fresh += 1
        return entry

    def stale_if_error(self, key: Key, ttl_s: float, stale_s: float) -> Cached | None:
        """An entry still inside its stale-if-error window, to serve when no live source could."""
        entry = self._used(key)
        if entry is None or entry.age(self.clock()) > ttl_s + stale_s:
            return None
        self.hits_stale += 1
        return entry

    def _used(self, key: Key) -> Cached | None:
        """The entry for exactly `key`, its bucket now the most recently used."""
        filed = _bucket(key)
        bucket = self._buckets.get(filed)
        if bucket is None or (at := _index(bucket, key[3])) < 0:
            return None
        self._buckets.move_to_end(filed)
        return bucket[at]

    def stats(self) -> dict[str, int]:
        return {"entries": self._entries, "bytes": self._bytes, "max_bytes": self._max_bytes,
                "hits_fresh": self.hits_fresh, "hits_stale": self.hits_stale, "misses": self.misses}
