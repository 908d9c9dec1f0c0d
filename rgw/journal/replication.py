"""Replication state across regions: appliers, what each region has applied, what reads require.

A read of collection C must be answered by a region that has applied every write to C that
was acknowledged as visible (Qdrant's `wait=true`), or that the client names with
`X-Gateway-Min-LSN`. Regions behind that are still used, after the fresh ones, and their
answers carry their lag as staleness.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from rgw.journal.applier import RegionApplier, Rejected
from rgw.journal.holds import Holds
from rgw.journal.log import DeadLetter, Entry, Journal
from rgw.regions.client import RegionClient

log = logging.getLogger("rgw.replication")


class Replication:
    def __init__(self, journal: Journal, clients: list[RegionClient],
                 back_at: Callable[[str], float] = lambda region: 0.0) -> None:
        """`back_at(region)`: when the region's health checks last saw it come back (see RegionApplier)."""
        self.journal = journal
        self.appliers = {c.name: RegionApplier(c, journal, back_at=functools.partial(back_at, c.name),
                                               on_rejected=self._rejected)
                         for c in clients}
        self.refused_everywhere = 0  # entries every region rejected: invalid writes, not divergence
        self.holds = Holds(journal, self.appliers)
        self._visible: dict[str, int] = {}
        self._other_consumers: dict[str, Callable[[], int]] = {}
        # After a restart we cannot know which earlier writes clients waited for: require all.
        self._floor = journal.head

    def start(self) -> None:
        for applier in self.appliers.values():
            applier.start()

    async def stop(self) -> None:
        await asyncio.gather(*(a.stop() for a in self.appliers.values()))

    def applied(self, region: str, collection: str | None = None) -> int:
        applier = self.appliers[region]
        if collection is not None and applier.held:  # some collection is held (a backup or restore)
            held_at = self.holds.position(region, collection)
            if held_at is not None:
                return held_at
        return applier.state.applied

    def required(self, collection: str | None) -> int:
        """The LSN a region must have applied to answer reads of `collection` as fresh."""
        if collection is None:
            return self._floor
        return max(self._floor, self._visible.get(collection, 0))

    def mark_visible(self, collection: str, lsn: int) -> None:
        if lsn > self._visible.get(collection, 0):
            self._visible[collection] = lsn

    def staleness_s(self, region: str) -> float:
        applier = self.appliers[region]
        if applier.state.applied >= self.journal.head:
            return 0.0  # caught up: asked on every read, and the usual answer
        return applier.lag_seconds()

    async def wait_applied(self, regions: list[str], lsn: int, timeout: float) -> list[str]:
        """Wait (up to timeout) for `regions` to apply `lsn`; returns those that did."""
        if not regions:
            return []
        results = await asyncio.gather(*(self.appliers[r].wait_applied(lsn, timeout) for r in regions))
        return [r for r, ok in zip(regions, results, strict=True) if ok]

    def rejection(self, region: str, lsn: int) -> Rejected | None:
        """Why `region` refused the entry at `lsn`, if it did (recently)."""
        return self.appliers[region].state.rejected.get(lsn)

    async def _rejected(self, region: str, entry: Entry) -> None:
        """A region dead-lettered `entry`. When every region has, the regions still agree: the write was
        invalid (a check the gateway could not make before journaling), so none of them is diverged by it."""
        refused_by = {d.region for d in self.journal.dead_letters() if d.lsn == entry.lsn}
        if refused_by != set(self.appliers):
            return
        self.refused_everywhere += 1
        log.warning("lsn %d (%s on %s) was refused by every region: an invalid write, not divergence",
                    entry.lsn, entry.op, entry.collection)
        for name in refused_by:
            await self.journal.drop_dead_letters(name, {entry.lsn})
            state = self.appliers[name].state
            if not self.journal.dead_letters(name):
                state.diverged, state.diverged_reason = False, None

    async def dead_letters_for(self, region: str, collection: str) -> list[DeadLetter]:
        """The region's dead letters that were writes to `collection` (as far as the journal still says)."""
        found = []
        for letter in self.journal.dead_letters(region):
            page = await self.journal.read(letter.lsn - 1, 1)
            if page and page[0].lsn == letter.lsn and page[0].collection == collection:
                found.append(letter)
        return found

    async def resolve_dead_letters(self, region: str, collection: str, upto: int) -> int:
        """Forget the region's dead letters for `collection` up to `upto`, once a restore or rebuild has
        put their effect there; the region stops showing as diverged when none is left."""
        resolved = {d.lsn for d in await self.dead_letters_for(region, collection) if d.lsn <= upto}
        if resolved:
            await self.journal.drop_dead_letters(region, resolved)
        state = self.appliers[region].state
        if not self.journal.dead_letters(region):
            state.diverged, state.diverged_reason = False, None
        return len(resolved)

    def add_consumer(self, name: str, applied: Callable[[], int]) -> None:
        """Another reader of the journal (lexical index, backups) whose unread entries must be kept."""
        self._other_consumers[name] = applied

    def trim_floor(self) -> int:
        """The lowest LSN the journal must keep: nothing a region or other consumer has not applied may go."""
        positions = [a.applied for a in self.appliers.values()] + [f() for f in self._other_consumers.values()]
        held = self.holds.floor()
        return min(positions + ([] if held is None else [held])) + 1

    async def trim(self, below: int) -> tuple[int, int]:
        """Trim the journal below `below`, never past the trim floor; returns (trimmed_below, removed)."""
        effective = min(below, self.trim_floor())
        removed = await self.journal.trim(effective)
        log.warning("journal trimmed below lsn %d (asked %d): %d entries removed", effective, below, removed)
        return effective, removed

    async def wait_any(self, regions: list[str], lsn: int, timeout: float) -> bool:
        """Wait until one of `regions` has applied `lsn`; False if none has within timeout."""
        if any(self.appliers[r].applied >= lsn for r in regions):
            return True
        waits = {asyncio.ensure_future(self.appliers[r].wait_applied(lsn, timeout)) for r in regions}
        try:
            while waits:
                done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if any(task.result() for task in done):
                    return True
            return False
        finally:
            for task in waits:
                task.cancel()

    def status(self) -> dict[str, Any]:
        regions = {}
        for name, applier in self.appliers.items():
            state = applier.state
            regions[name] = {
                "applied_lsn": state.applied,
                "lag_entries": applier.lag_entries(),
                "lag_seconds": round(applier.lag_seconds(), 3),
                "paused": applier.paused,
                "held": dict(applier.held),
                "diverged": state.diverged,
                "diverged_reason": state.diverged_reason,
                "retries": state.retries,
                "abandoned": state.abandoned,
                "last_error": state.last_error,
                "dead_letters": [{"lsn": d.lsn, "at": d.at, "error": d.error}
                                 for d in self.journal.dead_letters(name)[-20:]],
                "dead_letters_total": len(self.journal.dead_letters(name)),
            }
        return {"journal": {**self.journal.stats(), "refused_everywhere": self.refused_everywhere},
                "regions": regions}
