"""Choosing the region that answers: ordering, retries across regions, hedging, write fan-out."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from rgw.envelope import error_message
from rgw.proxy.config import Routing
from rgw.proxy.freshness import Freshness
from rgw.proxy.health import HealthBook
from rgw.proxy.http1 import Exchange, Response
from rgw.proxy.upstream import RegionClient, timed_out, upstream_error

log = logging.getLogger("rgw.routing")

# uvloop's clock is cached to the millisecond: a timer may wake us a hair before the time it was
# set for. Counting that as reached avoids re-arming a zero-length timer and spinning.
TIMER_SLACK = 0.001


@dataclass(frozen=True, slots=True)
class Attempt:
    region: str
    outcome: str  # "ok", "HTTP 503: ...", "timeout: ...", "connect: ...", "collection missing", "skipped: ..."

    def __str__(self) -> str:
        return f"{self.region}: {self.outcome}"


@dataclass(slots=True)  # not frozen: built on every query, and a frozen __init__ costs 4x
class Answer:
    region: str
    reply: Response
    mode: str  # "normal" when the first configured region answered, "failover" otherwise
    attempts: tuple[Attempt, ...]
    headers: dict[str, str] | None = None  # extra response headers (e.g. the write's LSN)
    staleness_s: float = 0.0  # how far the answering source trails the journal head
    coverage: float = 1.0  # fraction of the collection's points the answer was computed over


class NoSourceAvailable(Exception):
    """No allowed source could answer; carries what was tried and why, for the 503."""

    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        super().__init__("; ".join(str(a) for a in attempts) or "no region configured")


def is_collection_missing(reply: Response) -> bool:
    # Qdrant says `Not found: Collection `name` doesn't exist!`; a missing point is also a 404.
    return reply.status == 404 and b"Collection `" in reply.body and b"exist" in reply.body


def failure_reason(reply: Response) -> str | None:
    """Why this reply means "try another region", or None when it is an answer to return."""
    if reply.status >= 500:
        return f"HTTP {reply.status}: {error_message(reply.body)}"
    if is_collection_missing(reply):
        return "collection missing"
    return None


@dataclass(slots=True)
class Plan:
    """The regions a read will try, in order: the first `fresh` are caught up, the first `serving` usable."""

    regions: list[RegionClient]
    fresh: int
    serving: int
    required: int  # the LSN a region must have applied to count as fresh


class ReadRouter:
    """Sends a read to the best region; on failure the next, and hedges when the first is slow."""

    def __init__(self, clients: list[RegionClient], book: HealthBook, routing: Routing,
                 freshness: Freshness) -> None:
        self._clients = clients
        self._preferred = clients[0].name
        self._book = book
        self._routing = routing
        self._freshness = freshness
        # The gateway's one event loop, kept: asyncio.get_running_loop() costs a getpid() system call.
        self._loop: asyncio.AbstractEventLoop | None = None

    async def order_fresh(self, collection: str | None, min_lsn: int,
                          allowed: frozenset[str] | None = None) -> Plan:
        """`order`, but when no serving region has caught up yet, first wait briefly for one to.

        Read-your-writes should not degrade to a stale answer because the read raced the
        applier by a millisecond; only a region that stays behind makes it stale (and labelled).
        """
        plan = self.order(collection, min_lsn, allowed)
        if plan.fresh == 0 and plan.serving:
            lagging = [c.name for c in plan.regions[:plan.serving]]
            if await self._freshness.wait_any(lagging, plan.required, self._routing.freshness_wait_s):
                plan = self.order(collection, min_lsn, allowed)
        return plan

    def order(self, collection: str | None, min_lsn: int = 0, allowed: frozenset[str] | None = None) -> Plan:
        """Regions to try: fresh ones first, then serving regions that lag, then the rest.

        Fresh means caught up to what reads of this collection require. Like Envoy's panic mode,
        when no region looks usable they are all still tried in order, so a stale belief never
        fails a read.
        """
        now = time.monotonic()
        required = max(min_lsn, self._freshness.required(collection))
        candidates = self._clients if allowed is None else [c for c in self._clients if c.name in allowed]
        serving = [c for c in candidates if self._book.regions[c.name].serves(collection, now)]
        fresh = [c for c in serving if self._freshness.applied(c.name, collection) >= required]
        if len(fresh) == len(candidates):  # all usable and caught up: the usual case, no more lists
            return Plan(fresh, len(fresh), len(fresh), required)
        lagging = [c for c in serving if c not in fresh]
        rest = [c for c in candidates if c not in serving]
        return Plan(fresh + lagging + rest, len(fresh), len(serving), required)

    def staleness_s(self, region: str) -> float:
        return self._freshness.staleness_s(region)

    def hedge_delay(self, client: RegionClient) -> float:
        routing = self._routing
        if routing.hedge_delay_ms is not None:
            return routing.hedge_delay_ms / 1000
        window = self._book.regions[client.name].latency
        if window.count < 20:
            return routing.hedge_max_delay_ms / 1000  # too little history: hedge late rather than often
        derived_ms = window.p99 * 1000 * routing.hedge_latency_factor
        return min(max(derived_ms, routing.hedge_min_delay_ms), routing.hedge_max_delay_ms) / 1000

    async def read(self, method: str, path: str, body: bytes | None, collection: str | None,
                   min_lsn: int = 0, allowed: frozenset[str] | None = None, preferred: str | None = None,
                   wait_fresh: bool = True) -> Answer:
        """Answer from the best of `allowed` regions (all by default); `preferred` answering is mode normal.

        `wait_fresh=False` skips waiting for a lagging region to catch up (a restoring region).
        """
        if collection is not None:
            self._book.watch(collection)
        plan = await self.order_fresh(collection, min_lsn, allowed) if wait_fresh else self.order(
            collection, min_lsn, allowed)
        if not plan.regions:
            raise NoSourceAvailable([Attempt(",".join(sorted(allowed or ())) or "regions", "none allowed")])
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return await _Race(self, loop, plan, method, path, body, collection, preferred or self._preferred).run()

    def _answer(self, region: str, reply: Response, attempts: list[Attempt], preferred: str) -> Answer:
        mode = "normal" if region == preferred else "failover"
        return Answer(region, reply, mode, tuple(attempts), staleness_s=self._freshness.staleness_s(region))


class _Try:
    """One attempt in flight: which region, since when, and until when it may take."""

    __slots__ = ("client", "exchange", "expires", "per_try", "started")

    def __init__(self, client: RegionClient, exchange: Exchange, started: float, expires: float,
                 per_try: float) -> None:
        self.client = client
        self.exchange = exchange
        self.started = started  # time.monotonic(), for the latency window
        self.expires = expires  # loop time
        self.per_try = per_try


class _Race:
    """One read across a plan's regions: the first, then a hedge or the next on failure, until one answers.

    Attempts are http1 exchanges that wake this coroutine from their connection's callback, and one
    timer covers the next hedge, per-try timeout or the deadline: no task per attempt and no
    asyncio.wait, which measured as two extra event-loop turns per query.
    """

    def __init__(self, router: ReadRouter, loop: asyncio.AbstractEventLoop, plan: Plan, method: str, path: str,
                 body: bytes | None, collection: str | None, preferred: str) -> None:
        self._router = router
        self._plan = plan
        self._method = method
        self._path = path
        self._body = body
        self._collection = collection
        self._preferred = preferred
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self._pending: list[_Try] = []
        self._launched = 0

    def _wake(self, *_: object) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _launch(self, now: float, deadline: float) -> float:
        """Start the next region's attempt; returns when to hedge it."""
        router = self._router
        client = self._plan.regions[self._launched]
        self._launched += 1
        per_try = max(0.001, min(router._routing.per_try_timeout_s, deadline - now))
        exchange = client.start(self._method, self._path, self._body, self._wake)
        self._pending.append(_Try(client, exchange, time.monotonic(), now + per_try, per_try))
        return now + router.hedge_delay(client)

    async def run(self) -> Answer:
        router, book, loop = self._router, self._router._book, self._loop
        routing, collection, plan = router._routing, self._collection, self._plan
        order, pending = plan.regions, self._pending
        attempts: list[Attempt] = []
        missing: tuple[RegionClient, Response] | None = None
        now = loop.time()
        deadline = now + routing.request_timeout_s
        hedge_at = self._launch(now, deadline)
        try:
            while pending:
                for attempt in [a for a in pending if a.exchange.finished]:
                    pending.remove(attempt)
                    client, exchange = attempt.client, attempt.exchange
                    if exchange.error is not None:
                        reason = str(upstream_error(exchange.error))
                        book.record_failure(client.name, reason)
                        attempts.append(Attempt(client.name, reason))
                        continue
                    reply = exchange.response
                    assert reply is not None
                    reason = failure_reason(reply)
                    if reason is None:
                        book.record_success(client.name, time.monotonic() - attempt.started)
                        if collection is not None:
                            book.collection_present(client.name, collection)
                        attempts.append(Attempt(client.name, "ok"))
                        return router._answer(client.name, reply, attempts, self._preferred)
                    attempts.append(Attempt(client.name, reason))
                    if reply.status >= 500:
                        book.record_failure(client.name, reason)
                    elif collection is not None:
                        book.record_success(client.name, time.monotonic() - attempt.started)
                        book.collection_missing(client.name, collection)
                        missing = missing or (client, reply)
                now = loop.time() + TIMER_SLACK
                for attempt in [a for a in pending if a.expires <= now]:
                    pending.remove(attempt)
                    attempt.exchange.cancel()
                    reason = str(timed_out(attempt.per_try))
                    book.record_failure(attempt.client.name, reason)
                    attempts.append(Attempt(attempt.client.name, reason))
                if now >= deadline:
                    break
                can_hedge = routing.hedging and self._launched < plan.fresh  # hedge only to fresh regions
                if not pending:
                    if self._launched == len(order):
                        break
                    hedge_at = self._launch(now, deadline)  # the previous one failed: on to the next
                    continue
                if can_hedge and now >= hedge_at:
                    hedge_at = self._launch(now, deadline)
                    continue
                wake_at = min(deadline, min(a.expires for a in pending))
                if can_hedge:
                    wake_at = min(wake_at, hedge_at)
                self._waiter = loop.create_future()
                timer = loop.call_at(wake_at, self._wake)
                try:
                    await self._waiter
                finally:
                    timer.cancel()
                    self._waiter = None
        finally:
            for attempt in pending:
                attempt.exchange.cancel()
        attempts.extend(Attempt(c.name, "not tried: request deadline passed") for c in order[self._launched:])
        attempts.extend(Attempt(a.client.name, "timeout: request deadline passed") for a in pending)
        if missing is not None and all(a.outcome == "collection missing" for a in attempts):
            client, reply = missing  # every region says so: the collection really does not exist
            return router._answer(client.name, reply, attempts, self._preferred)
        raise NoSourceAvailable(attempts)
