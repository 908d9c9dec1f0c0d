"""One applier per region: replays the journal into it in LSN order, idempotently.

Transient failures (refused, timeout, 5xx, 429) are retried with capped exponential backoff
for as long as it takes: a region that is down accumulates lag and catches up by itself.
A region that permanently rejects an entry (4xx) is marked diverged and the entry goes to the
dead-letter list, shown in status; the applier then moves on, so one bad entry does not
freeze replication of everything after it.

A collection can be held on a region (for a backup or a restore): the applier passes over its
entries, and whoever holds it replays them (`rgw.journal.holds`) before letting go.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import tenacity

from rgw.http.client import Response
from rgw.journal.log import DeadLetter, Entry, Journal
from rgw.qdrant.envelope import error_message
from rgw.regions.client import RegionClient, UpstreamError

log = logging.getLogger("rgw.applier")

# One apply attempt. A request lost in a partition is resent as soon as the region is seen back
# (STUCK_AFTER_S), so this only bounds a region that stays silent without failing its checks.
APPLY_TIMEOUT_S = 10.0
# A request outstanding this long, sent before the region was last seen coming back (its health
# checks failed, then passed again), went into an outage: abandon it and resend.
STUCK_AFTER_S = 1.0
STUCK_CHECK_S = 0.25


class TransientFailure(Exception):
    """The region could not take the entry right now; it will be retried."""


class Rejected(Exception):
    """The region refused the entry for good (a 4xx other than 429, or a 501)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


MAX_REMEMBERED_REJECTIONS = 1024  # recent rejections, for the writes waiting on them (wait=true)


@dataclass
class ApplierState:
    applied: int = 0  # every entry with LSN <= applied is in the region
    working_since: float | None = None  # journal time of the oldest entry not yet applied
    diverged: bool = False
    diverged_reason: str | None = None
    retries: int = 0
    abandoned: int = 0  # requests given up as lost in an outage the region came back from
    last_error: str | None = None
    applied_total: int = 0
    waiters: list[tuple[int, int, asyncio.Future[None]]] = field(default_factory=list)
    rejected: dict[int, Rejected] = field(default_factory=dict)  # lsn -> why, most recent last (bounded)


def already_done(entry: Entry, reply: Response) -> bool:
    """Replies that mean the entry's effect is already in the region (replay after a crash)."""
    message = error_message(reply.body)
    if entry.op == "create_collection":
        return reply.status in (400, 409) and "already exists" in message
    if entry.op in ("delete_collection", "delete_index"):
        return reply.status == 404
    return False


class RegionApplier:
    def __init__(self, client: RegionClient, journal: Journal, back_at: Callable[[], float],
                 batch: int = 256, on_rejected: Callable[[str, Entry], Awaitable[None]] | None = None) -> None:
        self.client = client
        self._on_rejected = on_rejected  # (region, entry): Replication tells divergence from a write no region takes
        self.journal = journal
        self.batch = batch
        self._back_at = back_at  # monotonic time the region's health checks last saw it come back
        self.state = ApplierState(applied=journal.cursor(self.consumer))
        self._task: asyncio.Task[None] | None = None
        self._sequence = 0
        self._running = asyncio.Event()
        self._running.set()
        self._since_memo: tuple[int, float | None] = (0, None)
        self.held: dict[str, int] = {}  # collection -> LSN its copy in this region stopped at
        # Taken around each entry, so a holder can act between two entries.
        self.between_entries = asyncio.Lock()

    @property
    def consumer(self) -> str:
        return f"region:{self.client.name}"

    @property
    def applied(self) -> int:
        return self.state.applied

    def lag_entries(self) -> int:
        return max(0, self.journal.head - self.state.applied)

    def lag_seconds(self) -> float:
        if self.lag_entries() == 0:
            return 0.0
        since = self.state.working_since
        if since is None:
            # Asked on every read while this region lags: look the entry's time up once per position.
            waiting_for = self.state.applied + 1
            if self._since_memo[0] != waiting_for:
                self._since_memo = (waiting_for, self.journal.entry_time(waiting_for))
            since = self._since_memo[1]
        return max(0.0, time.time() - since) if since else 0.0

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        """Stop applying after the current entry (operator maintenance); lag accumulates."""
        self._running.clear()
        log.warning("applier %s: paused by operator at lsn %d", self.client.name, self.state.applied)

    def resume(self) -> None:
        self._running.set()
        log.warning("applier %s: resumed at lsn %d", self.client.name, self.state.applied)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"applier:{self.client.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.journal.save_cursor(self.consumer, self.state.applied)

    async def wait_applied(self, lsn: int, timeout: float) -> bool:
        """True once every entry up to `lsn` is in the region; False after timeout seconds."""
        if self.state.applied >= lsn:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sequence += 1
        waiters = self.state.waiters
        if len(waiters) > 1024:  # timed-out waiters pile up while a region is down: drop them
            waiters[:] = [w for w in waiters if not w[2].done()]
            heapq.heapify(waiters)
        heapq.heappush(waiters, (lsn, self._sequence, future))
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            future.cancel()
            return False

    async def _run(self) -> None:
        while True:
            await self._running.wait()
            entries = await self.journal.read(self.state.applied, self.batch)
            if not entries:
                self.state.working_since = None
                await self.journal.wait_beyond(self.state.applied, 1.0)
                continue
            for entry in entries:
                if not self._running.is_set():
                    break
                async with self.between_entries:
                    if entry.collection not in self.held:
                        self.state.working_since = entry.at
                        await self.apply(entry)
                    self._advance(entry.lsn)
            await self.journal.save_cursor(self.consumer, self.state.applied)

    def _advance(self, lsn: int) -> None:
        state = self.state
        state.applied = lsn
        state.applied_total += 1
        while state.waiters and state.waiters[0][0] <= lsn:
            _, _, future = heapq.heappop(state.waiters)
            if not future.done():
                future.set_result(None)

    async def apply(self, entry: Entry) -> None:
        """Apply one entry, retrying transient failures; a rejection is dead-lettered."""
        try:
            await self.apply_or_raise(entry)
        except Rejected as exc:
            await self._dead_letter(entry, exc)

    async def apply_or_raise(self, entry: Entry) -> None:
        """Apply one entry, retrying transient failures for as long as it takes; raises Rejected."""
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(TransientFailure),
            wait=tenacity.wait_exponential_jitter(initial=0.05, max=0.5),
            before_sleep=lambda state: self._note_retry(entry, state),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._apply(entry)

    def _note_retry(self, entry: Entry, retry_state: tenacity.RetryCallState) -> None:
        self.state.retries += 1
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        self.state.last_error = str(error)
        if retry_state.attempt_number in (1, 10) or retry_state.attempt_number % 100 == 0:
            log.warning("applier %s: retrying lsn %d (attempt %d): %s", self.client.name, entry.lsn,
                        retry_state.attempt_number, error)

    async def _apply(self, entry: Entry) -> None:
        try:
            reply = await self._send(entry)
        except UpstreamError as exc:
            raise TransientFailure(str(exc)) from exc
        if reply.status < 300 or already_done(entry, reply):
            self.state.last_error = None
            return
        message = error_message(reply.body)
        if (reply.status >= 500 and reply.status != 501) or reply.status == 429:
            raise TransientFailure(f"HTTP {reply.status}: {message}")
        raise Rejected(reply.status, message)

    async def _send(self, entry: Entry) -> Response:
        """Send one entry; abandon it (TransientFailure, so it is resent) once it is stuck in an outage
        the region has come back from, rather than waiting out APPLY_TIMEOUT_S. Entries are idempotent."""
        sent = time.monotonic()
        request = asyncio.ensure_future(self.client.send(entry.method, entry.path + "?wait=true",
                                                         entry.body or None, APPLY_TIMEOUT_S))
        try:
            while True:
                done, _ = await asyncio.wait({request}, timeout=STUCK_CHECK_S)
                if done:
                    return request.result()
                if time.monotonic() - sent >= STUCK_AFTER_S and self._back_at() > sent:
                    self.state.abandoned += 1
                    raise TransientFailure(f"lsn {entry.lsn} was sent before {self.client.name} went away and "
                                           "came back: resending it")
        finally:
            if not request.done():
                request.cancel()  # aborts its connection
                with contextlib.suppress(asyncio.CancelledError, UpstreamError):
                    await request

    async def _dead_letter(self, entry: Entry, rejection: Rejected) -> None:
        state = self.state
        state.diverged = True
        state.diverged_reason = f"lsn {entry.lsn} ({entry.op} on {entry.collection}) rejected: {rejection}"
        state.rejected[entry.lsn] = rejection
        if len(state.rejected) > MAX_REMEMBERED_REJECTIONS:
            del state.rejected[next(iter(state.rejected))]
        log.error("applier %s: diverged: %s", self.client.name, state.diverged_reason)
        await self.journal.add_dead_letter(DeadLetter(self.client.name, entry.lsn, time.time(), str(rejection)))
        if self._on_rejected is not None:
            await self._on_rejected(self.client.name, entry)
