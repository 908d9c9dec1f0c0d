"""Per-credential (and per credential and collection) token buckets: a request over budget is refused at
once with how long to wait, never queued. The buckets kept are bounded."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from rgw.auth.errors import RateLimited
from rgw.settings.config import RateLimit, RateLimits


class TokenBucket:
    """`rate` tokens a second, `burst` at most; a request takes one."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.rate = limit.requests_per_s
        self.burst = float(limit.burst)
        self.tokens = self.burst
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0.0: one is there now); refills first."""
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0

    def full(self, now: float) -> bool:
        """A full bucket holds no state: dropping it changes nothing."""
        return self.wait(now) == 0.0 and self.tokens >= self.burst


class RateLimiter:
    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._buckets: dict[str | tuple[str, str], TokenBucket] = {}

    def check(self, credential: str, collection: str | None) -> None:
        """Take one request from the credential's budget (and the collection's); RateLimited when either is spent
        (then neither is charged)."""
        now = self._clock()
        limit = self._limits.credentials.get(credential) or self._limits.default
        own = None if limit is None else self._bucket(credential, limit, now)
        per = None if collection is None else self._limits.collections.get(collection)
        shared = None if per is None or collection is None else self._bucket((credential, collection), per, now)
        waits = [(bucket.wait(now), what) for bucket, what in ((own, credential), (shared, collection))
                 if bucket is not None]
        longest = max(waits, default=(0.0, ""))
        if longest[0] > 0.0:
            what = f"{credential} on collection {collection}" if longest[1] == collection else longest[1]
            raise RateLimited(f"the request rate of {what} is over its limit; retry after "
                              f"{longest[0]:.2f} s", max(longest[0], 0.001), credential)
        if own is not None:
            own.take()
        if shared is not None:
            shared.take()

    def _bucket(self, key: str | tuple[str, str], limit: RateLimit, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._limits.max_buckets:
                self._make_room(now)
            bucket = self._buckets[key] = TokenBucket(limit, now)
        return bucket

    def _make_room(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
        if len(self._buckets) >= self._limits.max_buckets:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> str:
    """Retry-After is whole seconds (RFC 9110): rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
