"""Holding one collection back on one region while a backup or a restore works on it.

While a collection is held, the region's applier passes over its entries and the holder owns
the region's copy: it records the LSN that copy stands at (the hold's position), replays the
collection's entries from there, and lets go between two of the applier's entries, so no entry
is applied twice out of order or skipped. Holds are journal cursors ("hold:REGION:COLLECTION"):
they survive a gateway restart, and keep the journal from being trimmed past what they need.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from rgw.journal.applier import RegionApplier
from rgw.journal.log import Entry, Journal
from rgw.qdrant.names import collection_path

log = logging.getLogger("rgw.holds")

HOLD_PREFIX = "hold:"
READ_PAGE = 500
# Entries left to replay at which the last stretch is done with the applier waiting.
FINAL_STRETCH = 200
HOLD_TIMEOUT_S = 30.0
SAVE_EVERY_S = 0.5  # how often a replay records its position (an interrupted one resumes from there)

Progress = Callable[[int], None]  # called with the LSN replay has reached


class HoldError(Exception):
    """A hold could not be taken or used (the region's applier is stuck, the journal is trimmed...)."""


def hold_name(region: str, collection: str) -> str:
    return f"{HOLD_PREFIX}{region}:{collection}"


def renamed(entry: Entry, source: str, target: str) -> Entry:
    """The entry as it applies to a copy of `source` named `target`."""
    prefix = collection_path(source)
    if source == target or not entry.path.startswith(prefix):
        return entry
    return replace(entry, collection=target, path=collection_path(target) + entry.path[len(prefix):])


class Holds:
    def __init__(self, journal: Journal, appliers: dict[str, RegionApplier]) -> None:
        self._journal = journal
        self._appliers = appliers
        for name, lsn in journal.cursors(HOLD_PREFIX).items():
            region, _, collection = name.removeprefix(HOLD_PREFIX).partition(":")
            if region in appliers:
                appliers[region].held[collection] = lsn
                log.warning("%s on %s is held at lsn %d (a backup or restore was under way)", collection, region, lsn)

    def position(self, region: str, collection: str) -> int | None:
        """The LSN the region's copy of a held collection stands at; None when not held."""
        return self._appliers[region].held.get(collection)

    def all(self) -> dict[str, dict[str, int]]:
        return {region: dict(a.held) for region, a in self._appliers.items() if a.held}

    def floor(self) -> int | None:
        positions = [lsn for a in self._appliers.values() for lsn in a.held.values()]
        return min(positions) if positions else None

    async def hold(self, region: str, collection: str) -> int:
        """Hold `collection` on `region`; returns the LSN its copy stands at (every earlier entry applied).

        Holding an already held collection returns its position: a resumed job picks up its own hold.
        """
        applier = self._appliers[region]
        if collection in applier.held:
            return applier.held[collection]
        try:
            async with asyncio.timeout(HOLD_TIMEOUT_S):
                await applier.between_entries.acquire()
        except TimeoutError:
            raise HoldError(f"the {region} applier has been busy for {HOLD_TIMEOUT_S:.0f}s "
                            f"(last error: {applier.state.last_error})") from None
        try:
            lsn = applier.applied
            await self.move(region, collection, lsn)
        finally:
            applier.between_entries.release()
        return lsn

    async def move(self, region: str, collection: str, lsn: int) -> None:
        """Record that the region's copy of a held collection now stands at `lsn`."""
        self._appliers[region].held[collection] = lsn
        await self._journal.save_cursor(hold_name(region, collection), lsn)

    async def catch_up_and_release(self, region: str, collection: str, rate: float | None = None,
                                   progress: Progress | None = None) -> int:
        """Replay the held collection's entries from its position to the applier's, then hand it back."""
        applier = self._appliers[region]
        position = self._position_or_fail(region, collection)
        while applier.applied - position > FINAL_STRETCH:
            position = await self.replay(applier, collection, position, applier.applied, rate=rate,
                                         progress=progress, hold=True)
        async with applier.between_entries:
            position = await self.replay(applier, collection, position, applier.applied, progress=progress,
                                         hold=True)
            del applier.held[collection]
            await self._journal.drop_cursor(hold_name(region, collection))
        log.warning("%s on %s released at lsn %d", collection, region, position)
        return position

    async def release_as_is(self, region: str, collection: str) -> None:
        """Let go without replaying: only for a copy that no longer exists (its restore rolled back)."""
        self._appliers[region].held.pop(collection, None)
        await self._journal.drop_cursor(hold_name(region, collection))

    async def replay(self, applier: RegionApplier, collection: str, after: int, upto: int, *,
                     target: str | None = None, rate: float | None = None, progress: Progress | None = None,
                     hold: bool = False) -> int:
        """Apply `collection`'s entries with after < LSN <= upto to the applier's region, as `target`.

        With `hold`, the hold's position follows the replay (so an interrupted replay resumes where
        it stopped) and a rejected entry is dead-lettered like the applier does; otherwise (a copy
        under another name) a rejection raises `Rejected`.
        """
        if after + 1 < self._journal.oldest and after < upto:
            raise HoldError(f"the journal no longer holds lsn {after + 1} (oldest retained is "
                            f"{self._journal.oldest}): {collection} cannot be replayed from {after}")
        started, applied = time.monotonic(), 0
        saved_at = started
        position = after
        while position < upto:
            page = await self._journal.read(position, READ_PAGE)
            if not page:
                break
            for entry in page:
                if entry.lsn > upto:
                    break
                if entry.collection == collection:
                    entry = renamed(entry, collection, target or collection)
                    await (applier.apply(entry) if hold else applier.apply_or_raise(entry))
                    applied += 1
                    if hold and time.monotonic() - saved_at >= SAVE_EVERY_S:
                        await self.move(applier.client.name, collection, entry.lsn)
                        saved_at = time.monotonic()
                    if progress is not None:
                        progress(entry.lsn)
                    if rate:  # pace the replay so a recovering region keeps serving
                        ahead = applied / rate - (time.monotonic() - started)
                        if ahead > 0:
                            await asyncio.sleep(ahead)
                position = entry.lsn
            position = min(max(position, page[-1].lsn), upto)
            if hold:
                await self.move(applier.client.name, collection, position)
            if progress is not None:
                progress(position)
        if position < upto:  # the journal ended before upto: nothing more to replay
            position = upto
            if hold:
                await self.move(applier.client.name, collection, position)
        return position

    def _position_or_fail(self, region: str, collection: str) -> int:
        position = self.position(region, collection)
        if position is None:
            raise HoldError(f"{collection} is not held on {region}")
        return position
