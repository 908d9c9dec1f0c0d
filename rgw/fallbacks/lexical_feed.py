"""Feeds the journal into the lexical index: a journal consumer (cursor `lexical`) run as a task.

Each batch read is applied and committed (one Tantivy commit per touched collection) before the
cursor moves, so a write is searchable lexically as soon as the batch holding it commits: well
within a second while the feeder keeps up. After a restart it resumes from the later of its
journal cursor and the LSN the index recorded with its last commit; anything it applies again
is skipped by the index, which knows per collection the last LSN it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from rgw.fallbacks.lexical import LexicalIndex, Staged
from rgw.journal.log import Journal

log = logging.getLogger("rgw.lexical")

CONSUMER = "lexical"
RETRY_S = 1.0  # after a failed batch (disk full, ...) the same batch is tried again, until it goes in


class LexicalFeeder:
    def __init__(self, journal: Journal, index: LexicalIndex, batch: int = 1024) -> None:
        self.journal = journal
        self.index = index
        self.batch = batch
        self.applied = max(journal.cursor(CONSUMER), index.applied_lsn)  # every entry <= applied is in
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # held while a batch is applied, and while a rebuild swaps in
        self._advanced = asyncio.Event()

    def lag_entries(self) -> int:
        return max(0, self.journal.head - self.applied)

    def lag_seconds(self) -> float:
        """How long the oldest entry not yet searchable has waited: a lexical answer's staleness."""
        if self.lag_entries() == 0:
            return 0.0
        since = self.journal.entry_time(self.applied + 1)
        return max(0.0, time.time() - since) if since is not None else 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lexical-feeder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.journal.save_cursor(CONSUMER, self.applied)

    async def wait_applied(self, lsn: int, timeout: float) -> bool:
        """True once every entry up to `lsn` is searchable; False after timeout seconds."""
        try:
            async with asyncio.timeout(timeout):
                while self.applied < lsn:
                    await self._advanced.wait()
        except TimeoutError:
            return False
        return True

    async def install(self, staged: Staged) -> None:
        """Swap in a rebuilt index and apply again every entry after the LSN it was built as of.

        The cursor moves back before the swap and the index records the earlier LSN with it, so a
        crash at any point resumes early enough.
        """
        async with self._turn:
            resume = min(self.applied, staged.as_of)
            await self.journal.save_cursor(CONSUMER, resume)
            await self.index.install_async(staged)
            self._advance(resume)

    async def _run(self) -> None:
        while True:
            try:
                fed = await self._feed_batch()
            except Exception as exc:
                self.last_error = f"applying the entries after lsn {self.applied}: {exc}"
                log.exception("lexical feeder: %s; retrying", self.last_error)
                await asyncio.sleep(RETRY_S)
                continue
            if not fed:
                await self.journal.wait_beyond(self.applied, 1.0)

    async def _feed_batch(self) -> bool:
        """Apply and commit the next batch; False when the journal holds none."""
        async with self._turn:
            entries = await self.journal.read(self.applied, self.batch)
            if not entries:
                return False
            await self.index.apply_async(entries)
            self.last_error = None
            self._advance(entries[-1].lsn)
            await self.journal.save_cursor(CONSUMER, self.applied)
            return True

    def _advance(self, lsn: int) -> None:
        self.applied = lsn
        self._advanced.set()
        self._advanced = asyncio.Event()  # waiters woken; later ones wait for the next batch
