"""What each fault does to one connection: the runtime half of faults.py.

An effect is created when a fault hits a connection (at accept, or when the fault is added while the
connection is open) and sits in that connection's chain. Data flowing in a direction the fault
covers passes through `send`, which may delay, split, drop or forward it, or end the connection.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from rgw.chaos.faults import Bandwidth, Blackhole, Direction, Fault, Latency, LimitData, Reset, Slicer, SlowClose

Forward = Callable[[bytes], Awaitable[None]]


class Connection(Protocol):
    """The two ways an effect may end the connection it acts on."""

    def close(self) -> None:
        """Close both sides after flushing (the peers see FIN)."""

    def reset(self) -> None:
        """Drop both sides now (the client sees RST)."""


class Effect:
    """One fault acting on one connection. The base forwards data untouched."""

    def __init__(self, fault: Fault, conn: Connection, rng: random.Random) -> None:
        self.fault = fault
        self.conn = conn
        self.rng = rng
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """The fault has just hit the connection."""

    def cancel(self) -> None:
        """The fault was removed or the connection ended: nothing scheduled may fire any more."""
        if self._timer is not None:
            self._timer.cancel()

    async def send(self, data: bytes, direction: Direction, forward: Forward) -> None:
        await forward(data)

    async def on_eof(self, direction: Direction) -> None:
        """One side has closed; runs before the close is passed on to the other side."""

    def _after_ms(self, delay_ms: float, action: Callable[[], None]) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay_ms / 1000, action)


class LatencyEffect(Effect):
    fault: Latency

    async def send(self, data: bytes, direction: Direction, forward: Forward) -> None:
        jitter = self.fault.jitter_ms
        delay_ms = self.fault.latency_ms + (self.rng.uniform(-jitter, jitter) if jitter else 0.0)
        await asyncio.sleep(max(0.0, delay_ms) / 1000)
        await forward(data)


class BandwidthEffect(Effect):
    fault: Bandwidth

    def __init__(self, fault: Fault, conn: Connection, rng: random.Random) -> None:
        super().__init__(fault, conn, rng)
        self._due: dict[Direction, float] = {}  # when the next piece may leave, per direction

    async def send(self, data: bytes, direction: Direction, forward: Forward) -> None:
        rate = self.fault.rate_kb_s * 1000
        # 100 ms worth per piece: the peer sees a steady trickle rather than one late burst.
        step = max(1, int(rate / 10))
        loop = asyncio.get_running_loop()
        due = max(self._due.get(direction, 0.0), loop.time())  # idle time earns no credit
        for start in range(0, len(data), step):
            piece = data[start:start + step]
            # Sleep before sending so that N bytes never arrive in less than N / rate seconds.
            due += len(piece) / rate
            self._due[direction] = due
            await asyncio.sleep(due - loop.time())
            await forward(piece)


class SlicerEffect(Effect):
    fault: Slicer

    async def send(self, data: bytes, direction: Direction, forward: Forward) -> None:
        f = self.fault
        pos = 0
        while pos < len(data):
            size = f.average_size + self.rng.randint(-f.size_variation, f.size_variation)
            await forward(data[pos:pos + size])
            pos += size
            if f.delay_ms and pos < len(data):
                await asyncio.sleep(f.delay_ms / 1000)


class BlackholeEffect(Effect):
    fault: Blackhole

    def start(self) -> None:
        if self.fault.timeout_ms:
            self._after_ms(self.fault.timeout_ms, self.conn.close)

    async def send(self, data: bytes, direction: Direction, forward: Forward) -> None:
        """Drop it: the sender sees its data accepted, the receiver sees nothing."""


class SlowCloseEffect(Effect):
    fault: SlowClose

    async def on_eof(self, direction: Direction) -> None:
        await asyncio.sleep(self.fault.delay_ms / 1000)


class _ByteBudgetEffect(Effect):
    """Forwards up to `budget` bytes (summed over the fault's directions), then ends the connection."""

    budget: int | None = None  # None: this effect does not count bytes

    def end(self) -> None:
        raise NotImplementedError

    async def send(self, data: bytes, direction: Direction, forward: Forward) -> None:
        if self.budget is None:
            await forward(data)
            return
        head = data[:self.budget]
        self.budget -= len(head)
        if head:
            await forward(head)
        if self.budget == 0:
            self.end()


class LimitDataEffect(_ByteBudgetEffect):
    fault: LimitData

    def start(self) -> None:
        self.budget = self.fault.after_bytes

    def end(self) -> None:
        self.conn.close()


class ResetEffect(_ByteBudgetEffect):
    fault: Reset

    def start(self) -> None:
        if self.fault.after_bytes:
            self.budget = self.fault.after_bytes
        elif self.fault.after_ms:
            self._after_ms(self.fault.after_ms, self.conn.reset)
        else:
            self.conn.reset()

    def end(self) -> None:
        self.conn.reset()


_EFFECTS: dict[type[Fault], type[Effect]] = {
    Latency: LatencyEffect,
    Bandwidth: BandwidthEffect,
    Slicer: SlicerEffect,
    Blackhole: BlackholeEffect,
    SlowClose: SlowCloseEffect,
    LimitData: LimitDataEffect,
    Reset: ResetEffect,
}


def make_effect(fault: Fault, conn: Connection, rng: random.Random) -> Effect:
    return _EFFECTS[type(fault)](fault, conn, rng)


async def run_chain(effects: Sequence[Effect], data: bytes, direction: Direction, sink: Forward) -> None:
    """Pass data through effects in order, then to sink; each effect decides what reaches the next."""
    if not effects:
        await sink(data)
        return
    rest = effects[1:]

    async def forward(piece: bytes) -> None:
        await run_chain(rest, piece, direction, sink)

    await effects[0].send(data, direction, forward)
