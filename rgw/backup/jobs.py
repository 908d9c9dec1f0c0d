"""Long-running operator jobs in the gateway (backup, restore, rebuild, drill): progress, ETA, outcome.

A job runs as a task in the gateway, which owns the journal and the appliers; the operator's
command starts it through the admin API and follows its progress here, so killing the command
does not stop the job. One job at a time per collection.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("rgw.jobs")

KEPT = 50  # finished jobs remembered for status


class JobConflict(Exception):
    """Another job is already working on that collection."""


@dataclass
class Job:
    id: str
    kind: str  # backup | restore | rebuild | drill
    collection: str
    region: str
    started_at: float = field(default_factory=time.time)
    state: str = "running"  # running | done | failed | interrupted
    phase: str = "starting"
    done: int = 0
    total: int | None = None
    unit: str = ""
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    finished_at: float | None = None
    _phase_started: float = field(default_factory=time.monotonic, repr=False)

    def enter(self, phase: str, total: int | None = None, unit: str = "") -> None:
        log.info("job %s (%s %s on %s): %s", self.id, self.kind, self.collection, self.region, phase)
        self.phase, self.done, self.total, self.unit = phase, 0, total, unit
        self._phase_started = time.monotonic()

    def advance(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total

    def counter(self) -> Callable[[int], None]:
        """A tick function adding to `done`: for steps that report work in increments (bytes, points)."""
        def tick(n: int) -> None:
            self.done += n

        return tick

    def eta_s(self) -> float | None:
        elapsed = time.monotonic() - self._phase_started
        if not self.total or not self.done or elapsed <= 0:
            return None
        return max(0.0, (self.total - self.done) / (self.done / elapsed))

    def as_dict(self) -> dict[str, Any]:
        eta = self.eta_s()
        return {"id": self.id, "kind": self.kind, "collection": self.collection, "region": self.region,
                "state": self.state, "phase": self.phase, "done": self.done, "total": self.total,
                "unit": self.unit, "eta_s": None if eta is None else round(eta, 1),
                "started_at": self.started_at, "finished_at": self.finished_at,
                "seconds": round((self.finished_at or time.time()) - self.started_at, 3),
                "error": self.error, "result": self.result}


class Jobs:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def running(self, collection: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.collection == collection and j.state == "running"), None)

    def ensure_free(self, collection: str) -> None:
        """Raise JobConflict when a job is already working on the collection."""
        busy = self.running(collection)
        if busy is not None:
            raise JobConflict(f"{collection} is busy: {busy.kind} job {busy.id} is {busy.phase}")

    def start(self, kind: str, collection: str, region: str,
              work: Callable[[Job], Awaitable[dict[str, Any]]]) -> Job:
        self.ensure_free(collection)
        job = Job(f"{kind}-{int(time.time())}-{next(self._ids)}", kind, collection, region)
        self._jobs[job.id] = job

        async def run() -> None:
            try:
                job.result = await work(job)
                job.state = "done"
            except asyncio.CancelledError:
                job.state, job.error = "interrupted", "the gateway stopped while it ran"
                raise
            except Exception as exc:  # the operator's command shows it; the gateway carries on
                log.exception("job %s failed", job.id)
                job.state, job.error = "failed", str(exc) or type(exc).__name__
            finally:
                job.finished_at = time.time()
                self._forget_old()

        task = asyncio.create_task(run(), name=f"job:{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def status(self) -> list[dict[str, Any]]:
        return [j.as_dict() for j in sorted(self._jobs.values(), key=lambda j: j.started_at)]

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state != "running"]
        for job in sorted(finished, key=lambda j: j.started_at)[:-KEPT]:
            self._jobs.pop(job.id, None)
