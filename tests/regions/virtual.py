"""An asyncio loop on virtual time, and regions that answer on it: routing tested without wall-clock time.

The loop's clock moves only when nothing is ready to run, straight to the next timer, so a test
of a 2-second per-try timeout takes microseconds and never flakes on a loaded machine. Regions
are scripted per request: answer with a status after a delay, fail at once, or never answer.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rgw.http.client import ConnectionFailed, ProtocolViolation, Response


class VirtualSelector(selectors.DefaultSelector):
    """Real I/O is polled without waiting; a wait for a timer moves the virtual clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("nothing is scheduled: the test would wait forever")
        self.now += timeout
        return []


@contextmanager
def virtual_loop() -> Iterator[asyncio.AbstractEventLoop]:
    selector = VirtualSelector()
    loop = asyncio.SelectorEventLoop(selector)
    loop.time = lambda: selector.now  # type: ignore[method-assign]
    try:
        yield loop
    finally:
        loop.close()


@dataclass
class Script:
    """What a region does with one request: `status` after `delay` seconds, a connect error, or nothing."""

    status: int | None = 200
    delay: float = 0.01
    body: bytes = b'{"result": {"points": []}, "status": "ok", "time": 0.0}'
    fails: bool = False  # connection refused at once


@dataclass
class FakeExchange:
    region: FakeRegion
    on_done: Callable[[FakeExchange], None]
    started_at: float
    path: str
    finished: bool = False
    cancelled: bool = False
    response: Response | None = None
    error: ConnectionFailed | ProtocolViolation | None = None

    def cancel(self) -> None:
        if not self.finished:
            self.finished = self.cancelled = True

    def _answer(self, status: int, body: bytes) -> None:
        if self.finished:
            return
        self.finished = True
        self.response = Response(status, "application/json", body)
        self.on_done(self)

    def _fail(self) -> None:
        self.finished = True
        self.error = ConnectionFailed(f"cannot connect to {self.region.name}: refused")
        self.on_done(self)


@dataclass
class FakeRegion:
    """Stands in for rgw.regions.client.RegionClient: `name` and `start`, scripted per request."""

    name: str
    loop: asyncio.AbstractEventLoop
    script: Script = field(default_factory=Script)
    exchanges: list[FakeExchange] = field(default_factory=list)

    def start(self, method: str, path: str, body: bytes | None,
              on_done: Callable[[FakeExchange], None]) -> FakeExchange:
        exchange = FakeExchange(self, on_done, self.loop.time(), path)
        self.exchanges.append(exchange)
        script = self.script
        if script.fails:
            self.loop.call_soon(exchange._fail)
        elif script.status is not None:
            self.loop.call_later(script.delay, exchange._answer, script.status, script.body)
        return exchange


class Caught:
    """Freshness as routing sees it, with every region caught up unless a test says otherwise."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}
        self.head = 0

    def applied(self, region: str, collection: str | None = None) -> int:
        return self.positions.get(region, self.head)

    def required(self, collection: str | None) -> int:
        return self.head

    def staleness_s(self, region: str) -> float:
        return 0.0 if self.applied(region) >= self.head else 5.0

    async def wait_any(self, regions: list[str], lsn: int, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return any(self.applied(r) >= lsn for r in regions)
