"""Choosing the region that answers: ordering, retries across regions, hedging, write fan-out."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from rgw.envelope import error_message
from rgw.proxy.config import Routing
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


class ReadRouter:
    """Sends a read to the best region; on failure the next, and hedges when the first is slow."""

    def __init__(self, clients: list[RegionClient], book: HealthBook, routing: Routing) -> None:
        self._clients = clients
        self._preferred = clients[0].name
        self._book = book
        self._routing = routing

    def order(self, collection: str | None) -> tuple[list[RegionClient], int]:
        """Regions to try, and how many of them are believed able to serve (the rest is a last resort).

        Like Envoy's panic threshold: when no region looks usable we still try them all in order,
        because a stale belief must never be the reason a read fails.
        """
        now = time.monotonic()
        serving = [c for c in self._clients if self._book.regions[c.name].serves(collection, now)]
        rest = [c for c in self._clients if c not in serving]
        return serving + rest, len(serving)

    def hedge_delay(self, client: RegionClient) -> float:
        routing = self._routing
        if routing.hedge_delay_ms is not None:
            return routing.hedge_delay_ms / 1000
        window = self._book.regions[client.name].latency
        if window.count < 20:
            return routing.hedge_max_delay_ms / 1000  # too little history: hedge late rather than often
        derived_ms = window.p99 * 1000 * routing.hedge_latency_factor
        return min(max(derived_ms, routing.hedge_min_delay_ms), routing.hedge_max_delay_ms) / 1000

    async def read(self, method: str, path: str, body: bytes | None, collection: str | None) -> Answer:
        if collection is not None:
            self._book.watch(collection)
        order, serving = self.order(collection)
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
                can_hedge = routing.hedging and launched < serving
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
                        return Answer(client.name, reply, self._mode(client.name), tuple(attempts))
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
            return Answer(client.name, reply, self._mode(client.name), tuple(attempts))
        raise NoSourceAvailable(attempts)

    def _mode(self, region: str) -> str:
        return "normal" if region == self._preferred else "failover"


class Writer(Protocol):
    """The write path's seam: synchronous fan-out now, the durable journal later."""

    async def write(self, method: str, path: str, body: bytes | None, collection: str | None) -> Answer: ...


class FanOutWriter:
    """Forwards a write to every usable region at once; answers with the first region's reply.

    A region that is down misses the write (the journal will catch it up); which regions took
    it is reported in the answer's attempts.
    """

    def __init__(self, clients: list[RegionClient], book: HealthBook, routing: Routing) -> None:
        self._clients = clients
        self._book = book
        self._routing = routing

    async def write(self, method: str, path: str, body: bytes | None, collection: str | None) -> Answer:
        now = time.monotonic()
        targets = [c for c in self._clients if self._book.regions[c.name].usable(now)] or self._clients
        skipped = [Attempt(c.name, "skipped: region unhealthy") for c in self._clients if c not in targets]
        timeout = self._routing.write_timeout_s
        results = await asyncio.gather(*(c.send(method, path, body, timeout) for c in targets),
                                       return_exceptions=True)
        attempts: list[Attempt] = []
        chosen: tuple[RegionClient, Response] | None = None
        for client, result in zip(targets, results, strict=True):
            if isinstance(result, UpstreamError):
                self._book.record_failure(client.name, str(result))
                attempts.append(Attempt(client.name, str(result)))
            elif isinstance(result, BaseException):
                raise result
            elif result.status >= 500:
                reason = f"HTTP {result.status}: {error_message(result.body)}"
                self._book.record_failure(client.name, reason)
                attempts.append(Attempt(client.name, reason))
            else:
                attempts.append(Attempt(client.name, "ok" if result.status < 300 else f"HTTP {result.status}"))
                chosen = chosen or (client, result)
        attempts.extend(skipped)
        if chosen is None:
            raise NoSourceAvailable(attempts)
        client, reply = chosen
        divergent = [a for a in attempts if a.outcome != attempts[0].outcome]
        if divergent:
            log.warning("write %s %s: regions disagree: %s", method, path, "; ".join(map(str, attempts)))
        mode = "normal" if client is self._clients[0] else "failover"
        return Answer(client.name, reply, mode, tuple(attempts))
