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
from rgw.proxy.http1 import Response
from rgw.proxy.upstream import RegionClient, UpstreamError

log = logging.getLogger("rgw.routing")


@dataclass(frozen=True, slots=True)
class Attempt:
    region: str
    outcome: str  # "ok", "HTTP 503: ...", "timeout: ...", "connect: ...", "collection missing", "skipped: ..."

    def __str__(self) -> str:
        return f"{self.region}: {self.outcome}"


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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
        order = plan.regions
        if not order:
            raise NoSourceAvailable([Attempt(",".join(sorted(allowed or ())) or "regions", "none allowed")])
        preferred = preferred or self._preferred
        routing = self._routing
        deadline = time.monotonic() + routing.request_timeout_s
        attempts: list[Attempt] = []
        pending: dict[asyncio.Task[Response], tuple[RegionClient, float]] = {}
        missing: tuple[RegionClient, Response] | None = None
        launched = 0

        def launch() -> None:
            nonlocal launched
            client = order[launched]
            launched += 1
            per_try = max(0.001, min(routing.per_try_timeout_s, deadline - time.monotonic()))
            task = asyncio.ensure_future(client.send(method, path, body, per_try))
            pending[task] = (client, time.monotonic())

        launch()
        try:
            while pending:
                last_client = next(reversed(pending.values()))[0]
                can_hedge = routing.hedging and launched < plan.fresh  # hedge only to fresh regions
                wait = self.hedge_delay(last_client) if can_hedge else deadline - time.monotonic()
                done, _ = await asyncio.wait(pending, timeout=max(0.0, wait),
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    if time.monotonic() >= deadline:
                        break
                    if can_hedge:
                        launch()
                    continue
                for task in done:
                    client, started = pending.pop(task)
                    try:
                        reply = task.result()
                    except UpstreamError as exc:
                        self._book.record_failure(client.name, str(exc))
                        attempts.append(Attempt(client.name, str(exc)))
                        continue
                    reason = failure_reason(reply)
                    if reason is None:
                        self._book.record_success(client.name, time.monotonic() - started)
                        if collection is not None:
                            self._book.collection_present(client.name, collection)
                        attempts.append(Attempt(client.name, "ok"))
                        return self._answer(client.name, reply, attempts, preferred)
                    attempts.append(Attempt(client.name, reason))
                    if reply.status >= 500:
                        self._book.record_failure(client.name, reason)
                    elif collection is not None:
                        self._book.record_success(client.name, time.monotonic() - started)
                        self._book.collection_missing(client.name, collection)
                        missing = missing or (client, reply)
                if not pending and launched < len(order) and time.monotonic() < deadline:
                    launch()
        finally:
            for task in pending:
                task.cancel()
        attempts.extend(Attempt(c.name, "not tried: request deadline passed") for c in order[launched:])
        attempts.extend(Attempt(c.name, "timeout: request deadline passed") for c, _ in pending.values())
        if missing is not None and all(a.outcome == "collection missing" for a in attempts):
            client, reply = missing  # every region says so: the collection really does not exist
            return self._answer(client.name, reply, attempts, preferred)
        raise NoSourceAvailable(attempts)

    def _answer(self, region: str, reply: Response, attempts: list[Attempt], preferred: str) -> Answer:
        mode = "normal" if region == preferred else "failover"
        return Answer(region, reply, mode, tuple(attempts), staleness_s=self._freshness.staleness_s(region))
