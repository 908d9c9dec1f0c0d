"""Background vector index building that never stalls the server, and its child-process entry.

`EdgeShard.optimize()` holds the GIL for its whole run (measured: 10 s for 40k x 384 points), so
it cannot run in the serving process, not even in a thread. Instead, per build:

1. copy the live shard to the next generation directory, holding the collection's write lock
   only to flush and bring the copy up to date, and start recording writes
   (`Collection.begin_snapshot`, `Collection.copy_live`, shardcopy.py);
2. without any lock: `python -m rgw.store.optimize DIR` loads, optimizes, flushes and closes the
   copy while the live shard keeps serving reads and writes;
3. on success: replay the recorded writes onto the copy, switch CURRENT and swap it in
   (`Collection.adopt`); on failure: drop the copy and keep serving.

At most one build runs per store, so indexing uses a bounded share of the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import qdrant_edge as qe

from rgw.store.collection import Collection

THRESHOLD_ENV = "RGW_STORE_INDEX_THRESHOLD"
DEFAULT_THRESHOLD = 10_000
_PR_SET_PDEATHSIG = 1


def index_threshold() -> int:
    """Unindexed points that trigger a build (env RGW_STORE_INDEX_THRESHOLD, default 10 000)."""
    raw = os.environ.get(THRESHOLD_ENV, "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_THRESHOLD
    except ValueError:
        raise SystemExit(f"{THRESHOLD_ENV} must be an integer, got {raw!r}") from None


@dataclass(eq=False)
class IndexBuilder:
    threshold: int
    candidates: Callable[[], Iterable[Collection]]
    log: logging.Logger
    _task: asyncio.Task[None] | None = None
    _child: asyncio.subprocess.Process | None = None
    _building: Collection | None = None
    _cancelled: bool = False  # the running child was killed on purpose

    def poke(self) -> None:
        """Start building if no build runs and some collection has piled up enough unindexed points.
        Cheap: called after every write."""
        if self._task is None and self._next() is not None:
            self._task = asyncio.create_task(self._run())

    def _next(self) -> Collection | None:
        return next((c for c in self.candidates() if c.needs_index(self.threshold)), None)

    async def _run(self) -> None:
        try:
            while (collection := self._next()) is not None:
                self._building = collection
                try:
                    await self._build(collection)
                except Exception:
                    if not collection.closed:
                        self.log.exception("index build of %s failed; serving the unindexed shard", collection.name)
                finally:
                    self._building = None
        finally:
            self._task = None

    async def _build(self, collection: Collection) -> None:
        started = time.monotonic()
        snapshot = await collection.begin_snapshot()
        self.log.info("index build started: %s generation %d", collection.name, snapshot.generation)
        if collection.closed or not await self._optimize_in_child(snapshot.path):
            await collection.abandon(snapshot)
            return
        await collection.adopt(snapshot)
        stats = collection.stats()
        self.log.info("index build swapped in: %s generation %d, %d points (%d vectors indexed), "
                      "%d writes replayed, %.1fs", collection.name, snapshot.generation, stats.points_count,
                      stats.indexed_vectors_count, len(snapshot.writes), time.monotonic() - started)

    async def _optimize_in_child(self, path: Path) -> bool:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rgw.store.optimize", str(path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._child, self._cancelled = child, False
        try:
            _, stderr = await child.communicate()
        finally:
            self._child = None
        if child.returncode != 0 and not self._cancelled:
            tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
            self.log.warning("index build child for %s exited with %s: %s", path, child.returncode, " | ".join(tail))
        return child.returncode == 0

    def cancel(self, collection: Collection) -> None:
        """Stop a build of `collection` (it is being deleted); the build then cleans up after itself."""
        if self._building is collection:
            self.log.info("index build of %s cancelled: collection deleted", collection.name)
            self._cancelled = True
            self._kill_child()

    async def halt(self, collection: Collection, timeout: float = 60.0) -> None:
        """Cancel a build of `collection` and wait until it has cleaned up after itself (the copy
        it worked on is gone and the child is dead), so the collection's directory can move."""
        self.cancel(collection)
        deadline = time.monotonic() + timeout
        while self._building is collection and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._building is collection:
            raise TimeoutError(f"the index build of {collection.name} did not stop within {timeout:.0f}s")

    async def stop(self) -> None:
        """Kill any running build (shutdown). The copy it worked on is removed at next startup."""
        self._kill_child()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _kill_child(self) -> None:
        if self._child is not None and self._child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._child.kill()


def _die_with_parent() -> None:
    """An orphaned builder must not keep writing into a generation a restarted store reuses."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect (best effort under a subreaper)
        raise SystemExit(3)


def main(argv: list[str]) -> int:
    """Child entry: optimize the shard in argv[0] (a copy nobody else has open)."""
    if len(argv) != 1:
        print("usage: python -m rgw.store.optimize SHARD_DIR", file=sys.stderr)
        return 2
    _die_with_parent()
    os.nice(10)  # index building yields the CPU to the serving process
    shard = qe.EdgeShard.load(argv[0])
    shard.optimize()
    shard.flush()
    shard.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
