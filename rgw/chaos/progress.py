"""Live progress of a run on stderr: one line per second, so a game day can be watched as it happens."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TextIO

from rgw.chaos.actions import Executor
from rgw.chaos.load import Clock, Recorder
from rgw.chaos.observe import StatusPoller


class LiveProgress:
    def __init__(self, stream: TextIO, clock: Clock, recorder: Recorder, poller: StatusPoller,
                 executor: Executor) -> None:
        self._stream = stream
        self._clock = clock
        self._rec = recorder
        self._poller = poller
        self._executor = executor
        self._reads_seen = 0
        self._writes_seen = 0
        self._events_seen = 0

    def note(self, text: str, at: float | None = None) -> None:
        self._stream.write(f"[{self._clock.now() if at is None else at:6.1f}s] {text}\n")
        self._stream.flush()

    def tick(self) -> None:
        reads = self._rec.reads[self._reads_seen:]
        writes = self._rec.writes[self._writes_seen:]
        self._reads_seen += len(reads)
        self._writes_seen += len(writes)
        for event in self._executor.events[self._events_seen:]:
            self.note(f">>> {event.label}: " + (f"done in {event.done - event.started:.2f}s" if event.ok
                                                 else f"FAILED: {event.error}"), at=event.started)
        self._events_seen = len(self._executor.events)
        modes = Counter(r.mode for r in reads if r.ok)
        failed = sum(not r.ok for r in reads)
        acked = sum(w.acked for w in writes)
        sample = self._poller.samples[-1] if self._poller.samples else None
        lag = " ".join(f"{region}={sample.lag(region)}" for region in sample.applied) if sample else "?"
        self.note(f"reads {len(reads):3d}/s failed {failed:2d} | writes {len(writes):2d}/s acked {acked:2d} | "
                  + (" ".join(f"{m}={n}" for m, n in sorted(modes.items())) or "no answers")
                  + f" | lag {lag}")

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                self.tick()
