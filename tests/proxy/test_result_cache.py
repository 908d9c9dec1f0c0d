"""The result cache's own bookkeeping: keys on exact bytes, LRU bounded in bytes, generations."""

from __future__ import annotations

from rgw.fallbacks.cache import ENTRY_OVERHEAD, MAX_PER_BUCKET, SAMPLE_BYTES, ResultCache, request_key

PATH = "/collections/c/points/query"


def test_keys_cover_collection_operation_and_exact_body() -> None:
    base = request_key("c", "POST", PATH, b'{"query":[1,2],"limit":10}')
    # The query string is part of the question (?consistency=, ?timeout=): variants never share an entry.
    assert base != request_key("c", "POST", PATH + "?consistency=all", b'{"query":[1,2],"limit":10}')
    assert base != request_key("d", "POST", PATH, b'{"query":[1,2],"limit":10}')
    assert base != request_key("c", "POST", "/collections/c/points/search", b'{"query":[1,2],"limit":10}')
    assert base != request_key("c", "POST", PATH, b'{"query":[1,2],"limit":11}')
    assert request_key("c", "GET", "/collections/c/points/7", None) == request_key("c", "GET",
                                                                                   "/collections/c/points/7", b"")


def test_fresh_hits_respect_ttl_and_writes() -> None:
    cache = ResultCache()
    key = request_key("c", "POST", PATH, b"q")
    cache.store(key, "c", b"answer", "application/json", 1.0, "primary")
    entry = cache.fresh(key, "c", ttl_s=60.0)
    assert entry is not None and entry.body == b"answer" and entry.source == "primary"
    assert cache.fresh(key, "c", ttl_s=-1.0) is None  # past its TTL
    cache.invalidate("c")
    assert cache.fresh(key, "c", ttl_s=60.0) is None  # a write makes it stale...
    assert cache.stale_if_error(key, 0.0, 60.0) is not None  # ...but still servable when all else failed
    assert cache.stats()["hits_fresh"] == 1 and cache.stats()["hits_stale"] == 1 and cache.stats()["misses"] == 2


def test_bounded_in_bytes_least_recently_used_first() -> None:
    body = b"x" * 100
    size = len(body) + 1 + ENTRY_OVERHEAD  # answer, key body (1 byte), overhead
    cache = ResultCache(max_bytes=3 * size)
    keys = [request_key("c", "POST", PATH, bytes([65 + i])) for i in range(4)]
    for key in keys[:3]:
        cache.store(key, "c", body, "application/json", 1.0, "primary")
    assert cache.stats()["bytes"] == 3 * size
    assert cache.fresh(keys[0], "c", 60.0) is not None  # used: now the most recent
    cache.store(keys[3], "c", body, "application/json", 1.0, "primary")
    assert cache.fresh(keys[1], "c", 60.0) is None  # the least recently used went
    assert all(cache.fresh(k, "c", 60.0) is not None for k in (keys[0], keys[2], keys[3]))
    assert cache.stats()["entries"] == 3 and cache.stats()["bytes"] == 3 * size
    cache.store(keys[0], "c", b"y" * 50, "application/json", 1.0, "secondary")  # replaced, not counted twice
    assert cache.stats()["bytes"] == 2 * size + 50 + 1 + ENTRY_OVERHEAD
    cache.store(request_key("c", "POST", PATH, b"Z"), "c", b"z" * (4 * size), "application/json", 1.0, "p")
    assert cache.stats()["entries"] == 3  # larger than the whole cache: not kept, nothing evicted for it


def middle_differs(i: int) -> bytes:
    """Bodies of one length that share their first and last SAMPLE_BYTES, and differ in between."""
    return b"h" * SAMPLE_BYTES + b"%08d" % i + b"t" * SAMPLE_BYTES


def test_bodies_sharing_their_sample_are_still_told_apart_exactly() -> None:
    cache = ResultCache()
    for i in range(2):
        cache.store(request_key("c", "POST", PATH, middle_differs(i)), "c", b"answer %d" % i, "application/json",
                    1.0, "primary")
    for i in range(2):
        entry = cache.fresh(request_key("c", "POST", PATH, middle_differs(i)), "c", 60.0)
        assert entry is not None and entry.body == b"answer %d" % i
    assert cache.fresh(request_key("c", "POST", PATH, middle_differs(2)), "c", 60.0) is None


def test_a_flood_of_bodies_sharing_a_sample_keeps_a_bounded_bucket() -> None:
    cache = ResultCache()
    flood = 10 * MAX_PER_BUCKET
    for i in range(flood):
        cache.store(request_key("c", "POST", PATH, middle_differs(i)), "c", b"a", "application/json", 1.0, "p")
    assert cache.stats()["entries"] == MAX_PER_BUCKET
    assert cache.stats()["bytes"] == MAX_PER_BUCKET * (1 + len(middle_differs(0)) + ENTRY_OVERHEAD)
    kept = [i for i in range(flood) if cache.fresh(request_key("c", "POST", PATH, middle_differs(i)), "c", 60.0)]
    assert kept == list(range(flood - MAX_PER_BUCKET, flood))  # the most recent ones
