"""Choosing the region that answers: ordering, retries across regions, hedging, write fan-out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from rgw.http.client import Response
from rgw.qdrant.envelope import error_message
from rgw.regions.attempts import Attempt, Mode, NoSourceAvailable, Outcome, classify, skipped
from rgw.regions.client import InFlight, Upstream, timed_out, upstream_error
from rgw.regions.freshness import Freshness
from rgw.regions.health import HealthBook
from rgw.settings.config import Routing

log = logging.getLogger("rgw.routing")

# uvloop's clock is cached to the millisecond: a timer may wake us a hair before the time it was
# set for. Counting that as reached avoids re-arming a zero-length timer and spinning.
TIMER_SLACK = 0.001


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class Answer:
    source: str  # a region, partial:<region>, cache, lexical, or the journal for a write
    reply: Response
    mode: Mode
    attempts: tuple[Attempt, ...]
    headers: dict[str, str] | None  # extra response headers (e.g. the write's LSN)
    staleness_s: float  # how far the answering source trails the journal head
    coverage: float  # fraction of the collection's points the answer was computed over

    def __init__(self, source: str, reply: Response, mode: Mode, attempts: tuple[Attempt, ...],
                 headers: dict[str, str] | None = None, staleness_s: float = 0.0, coverage: float = 1.0) -> None:
        self.source, self.reply, self.mode, self.attempts = source, reply, mode, attempts
        self.headers, self.staleness_s, self.coverage = headers, staleness_s, coverage


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class Plan:
    """The regions a read will try, in order: the first `fresh` are caught up, the first `serving` usable."""

    regions: list[Upstream]
    fresh: int
    serving: int
    required: int  # the LSN a region must have applied to count as fresh

    def __init__(self, regions: list[Upstream], fresh: int, serving: int, required: int) -> None:
        self.regions, self.fresh, self.serving, self.required = regions, fresh, serving, required


class ReadRouter:
    """Sends a read to the best region; on failure the next, and hedges when the first is slow."""

    def __init__(self, clients: list[Upstream], book: HealthBook, routing: Routing,
                 freshness: Freshness) -> None:
        self._clients = clients
        self._by_name = {c.name: c for c in clients}
        self._preferred = clients[0].name
        self._book = book
        self._routing = routing
        self._freshness = freshness
        # The gateway's one event loop, kept: asyncio.get_running_loop() costs a getpid() system call.
        self._loop: asyncio.AbstractEventLoop | None = None

    async def order_fresh(self, collection: str | None, min_lsn: int,
                          allowed: tuple[str, ...] | None = None) -> Plan:
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

    def order(self, collection: str | None, min_lsn: int = 0, allowed: tuple[str, ...] | None = None) -> Plan:
        """Regions to try: fresh ones first, then serving regions that lag, then the rest; within each, in
        the order of `allowed` (a policy chain's regions), else of the configuration.

        Fresh means caught up to what reads of this collection require. Like Envoy's panic mode,
        when no region looks usable they are all still tried in order, so a stale belief never
        fails a read.
        """
        now = self._book.clock()
        required = max(min_lsn, self._freshness.required(collection))
        candidates = self._clients if allowed is None else [self._by_name[name] for name in allowed]
        serving = [c for c in candidates if self._book.regions[c.name].serves(collection, now)]
        fresh = [c for c in serving if self._freshness.applied(c.name, collection) >= required]
        if len(fresh) == len(candidates):  # all usable and caught up: the usual case, no more lists
            return Plan(fresh, len(fresh), len(fresh), required)
        lagging = [c for c in serving if c not in fresh]
        rest = [c for c in candidates if c not in serving]
        return Plan(fresh + lagging + rest, len(fresh), len(serving), required)

    def staleness_s(self, region: str) -> float:
        return self._freshness.staleness_s(region)

    def hedge_delay(self, client: Upstream) -> float:
        routing = self._routing
        if routing.hedge_delay_ms is not None:
            return routing.hedge_delay_ms / 1000
        window = self._book.regions[client.name].latency
        if window.count < 20:
            return routing.hedge_max_delay_ms / 1000  # too little history: hedge late rather than often
        derived_ms = window.p99 * 1000 * routing.hedge_latency_factor
        return min(max(derived_ms, routing.hedge_min_delay_ms), routing.hedge_max_delay_ms) / 1000

    async def read(self, method: str, path: str, body: bytes | None, collection: str | None,
                   min_lsn: int = 0, allowed: tuple[str, ...] | None = None, preferred: str | None = None,
                   wait_fresh: bool = True) -> Answer:
        """Answer from the best of `allowed` regions (all by default), in their order; `preferred` answering is
        mode normal.

        `wait_fresh=False` skips waiting for a lagging region to catch up (a restoring region).
        """
        if collection is not None:
            self._book.watch(collection)
        plan = await self.order_fresh(collection, min_lsn, allowed) if wait_fresh else self.order(
            collection, min_lsn, allowed)
        if not plan.regions:
            raise NoSourceAvailable([skipped(",".join(allowed or ()) or "regions", "none allowed")])
        return await self._race(plan, method, path, body, collection, preferred).run()

    def begin(self, method: str, path: str, body: bytes | None, collection: str, min_lsn: int,
              allowed: tuple[str, ...], preferred: str | None) -> Race | None:
        """`read` without a task: a race ready to start, or None when `read` must serve it (it would wait
        for a lagging region first, or has no region to try)."""
        self._book.watch(collection)
        plan = self.order(collection, min_lsn, allowed)
        if not plan.fresh:
            return None
        return self._race(plan, method, path, body, collection, preferred)

    def _race(self, plan: Plan, method: str, path: str, body: bytes | None, collection: str | None,
              preferred: str | None) -> Race:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return Race(self, loop, plan, method, path, body, collection, preferred or self._preferred)

    def _answer(self, region: str, reply: Response, attempts: list[Attempt], preferred: str) -> Answer:
        mode = Mode.NORMAL if region == preferred else Mode.FAILOVER
        return Answer(region, reply, mode, tuple(attempts), staleness_s=self._freshness.staleness_s(region))


class _Try:
    """One attempt in flight: which region, since when, and until when it may take."""

    __slots__ = ("client", "exchange", "expires", "per_try", "started")

    def __init__(self, client: Upstream, exchange: InFlight, started: float, expires: float,
                 per_try: float) -> None:
        self.client = client
        self.exchange = exchange
        self.started = started  # loop time, for the latency window
        self.expires = expires  # loop time
        self.per_try = per_try


Ended = Callable[[Answer | None, Exception | None], None]  # (answer, None) or (None, why not)


class Race:
    """One read across a plan's regions: the first, then a hedge or the next on failure, until one answers.

    Driven by callbacks alone: attempts are http1 exchanges that call back from their connection,
    and one timer covers the next hedge, per-try timeout or the deadline. No task, future or
    coroutine per attempt or per read: a plain read costs no turn of the event loop beyond its
    own I/O. `run` awaits the same race from a coroutine.
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
        self._pending: list[_Try] = []
        self._launched = 0
        self._attempts: list[Attempt] = []
        self._missing: tuple[Upstream, Response] | None = None
        self._deadline = 0.0
        self._hedge_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._ended: Ended | None = None

    def start(self, ended: Ended) -> None:
        """Send the first attempt. `ended` is called once, later, from an event-loop callback."""
        self._ended = ended
        now = self._loop.time()
        self._deadline = now + self._router._routing.request_timeout_s
        self._hedge_at = self._launch(now)
        self._arm()

    async def run(self) -> Answer:
        future: asyncio.Future[Answer] = self._loop.create_future()

        def ended(answer: Answer | None, error: Exception | None) -> None:
            if future.done():
                return
            if answer is not None:
                future.set_result(answer)
            else:
                future.set_exception(error or RuntimeError("race ended without an answer"))

        self.start(ended)
        try:
            return await future
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop: cancel whatever is in flight; `ended` is not called."""
        self._ended = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for attempt in self._pending:
            attempt.exchange.cancel()
        self._pending.clear()

    def _launch(self, now: float) -> float:
        """Start the next region's attempt; returns when to hedge it."""
        router = self._router
        client = self._plan.regions[self._launched]
        self._launched += 1
        per_try = max(0.001, min(router._routing.per_try_timeout_s, self._deadline - now))
        exchange = client.start(self._method, self._path, self._body, self._event)
        self._pending.append(_Try(client, exchange, now, now + per_try, per_try))
        return now + router.hedge_delay(client)

    def _can_hedge(self) -> bool:
        return self._router._routing.hedging and self._launched < self._plan.fresh  # hedge only to fresh regions

    def _arm(self) -> None:
        wake_at = min(self._deadline, min(a.expires for a in self._pending))
        if self._can_hedge():
            wake_at = min(wake_at, self._hedge_at)
        self._timer = self._loop.call_at(wake_at, self._event)

    def _event(self, *_: object) -> None:
        """An attempt ended or the timer fired: answer, give up, or go on waiting."""
        if self._ended is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            answer = self._settle()
        except Exception as exc:  # NoSourceAvailable, or a fault here: either way the read ends with it
            self._end(None, exc)
            return
        if answer is None:
            self._arm()
        else:
            self._end(answer, None)

    def _end(self, answer: Answer | None, error: Exception | None) -> None:
        ended = self._ended
        self.cancel()
        if ended is not None:
            ended(answer, error)

    def _settle(self) -> Answer | None:
        """Take in what ended, launch a hedge or the next region when due; None means wait for more."""
        router, book = self._router, self._router._book
        collection, pending, attempts = self._collection, self._pending, self._attempts
        for attempt in [a for a in pending if a.exchange.finished]:
            pending.remove(attempt)
            client, exchange = attempt.client, attempt.exchange
            if exchange.error is not None:
                failure = upstream_error(exchange.error)
                book.record_failure(client.name, str(failure))
                attempts.append(Attempt(client.name, failure.outcome, str(failure)))
                continue
            reply = exchange.response
            assert reply is not None
            outcome = classify(reply)
            if outcome is Outcome.OK or outcome is Outcome.ANSWERED:
                # A definitive answer (4xx, 501) is the request's own: relayed, and no mark against the region.
                book.record_success(client.name, self._loop.time() - attempt.started)
                if collection is not None:
                    book.collection_present(client.name, collection)
                attempts.append(Attempt(client.name, outcome))
                return router._answer(client.name, reply, attempts, self._preferred)
            detail = f"HTTP {reply.status}: {error_message(reply.body)}"
            attempts.append(Attempt(client.name, outcome, detail))
            if outcome.region_failure:
                book.record_failure(client.name, detail)
            elif outcome is Outcome.MISSING and collection is not None:
                book.record_success(client.name, self._loop.time() - attempt.started)
                book.collection_missing(client.name, collection)
                self._missing = self._missing or (client, reply)
        now = self._loop.time() + TIMER_SLACK
        for attempt in [a for a in pending if a.expires <= now]:
            pending.remove(attempt)
            attempt.exchange.cancel()
            failure = timed_out(attempt.per_try)
            book.record_failure(attempt.client.name, str(failure))
            attempts.append(Attempt(attempt.client.name, failure.outcome, str(failure)))
        if now >= self._deadline:
            return self._exhausted()
        if not pending:
            if self._launched == len(self._plan.regions):
                return self._exhausted()
            self._hedge_at = self._launch(now)  # the previous one failed: on to the next
        elif self._can_hedge() and now >= self._hedge_at:
            self._hedge_at = self._launch(now)
        return None

    def _exhausted(self) -> Answer:
        """Every region tried or the deadline passed: the 503's attempts, or the collection's 404."""
        attempts = self._attempts
        attempts.extend(Attempt(c.name, Outcome.NOT_TRIED, "request deadline passed")
                        for c in self._plan.regions[self._launched:])
        attempts.extend(Attempt(a.client.name, Outcome.TIMEOUT, "request deadline passed") for a in self._pending)
        if self._missing is not None and all(a.outcome is Outcome.MISSING for a in attempts):
            client, reply = self._missing  # every region says so: the collection really does not exist
            return self._router._answer(client.name, reply, attempts, self._preferred)
        raise NoSourceAvailable(attempts)
