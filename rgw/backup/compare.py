"""Comparing a restored copy of a collection with the live one, point by point.

Both sides are scrolled whole, keeping per point a digest of its payload and one of its vectors,
so a report can tell "payload lost" from "vectors differ". Points written after the LSN the
copy stands at are left out: the live side may already have them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rgw.journal.log import Journal
from rgw.journal.scan import point_digest, scan
from rgw.journal.truth import PointId, entries, touched_ids
from rgw.regions.client import RegionClient

EXAMPLES = 10


class CompareFailed(Exception):
    """A side could not be read."""


def _split_digest(point: dict[str, Any]) -> tuple[bytes, bytes]:
    return point_digest(point.get("payload"), None), point_digest(None, point.get("vector"))


@dataclass
class Comparison:
    reference: str  # where the live collection was read
    copy_points: int
    reference_points: int
    missing: int = 0  # live points the copy lacks
    extra: int = 0  # points only the copy has
    payload_differs: int = 0
    vectors_differ: int = 0
    excluded: int = 0  # live points written after the compared LSN, not compared
    written_since: int = 0  # points the journal's entries after the compared LSN write
    by_filter: bool = False  # some of those entries work by filter: which points they touch is unknown
    examples: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.payload_differs or self.vectors_differ)

    def problems(self) -> list[str]:
        out = []
        for what, count in (("missing", self.missing), ("extra", self.extra),
                            ("with payload missing or different", self.payload_differs),
                            ("with vectors different", self.vectors_differ)):
            if count:
                shown = ", ".join(map(str, self.examples.get(what, [])))
                out.append(f"{count} points {what} (e.g. {shown})")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "equal": self.equal}


async def writes_after(journal: Journal, collection: str, lsn: int) -> tuple[set[PointId], bool]:
    """Points the collection's entries after `lsn` write, and whether any works by filter."""
    ids: set[PointId] = set()
    by_filter = False
    async for entry in entries(journal, lsn):
        if entry.collection == collection:
            touched, filtered = touched_ids(entry.op, entry.body)
            ids |= touched
            by_filter = by_filter or filtered
    return ids, by_filter


async def compare_copies(copy: RegionClient, copy_name: str, live: RegionClient, live_name: str,
                         journal: Journal, lsn: int, tick: Callable[[int], None]) -> Comparison:
    """Compare a copy standing at `lsn` with the live collection, leaving out what was written after `lsn`.

    The live side keeps taking writes while it is scanned, so what was written after `lsn` is read
    from the journal once both scans have ended: every write the scan can have seen is in it by then.
    """
    copy_points, live_points = await asyncio.gather(scan(copy, copy_name, tick, _split_digest),
                                                    scan(live, live_name, tick, _split_digest))
    if copy_points is None:
        raise CompareFailed(f"{copy_name} is not on {copy.name}")
    if live_points is None:
        raise CompareFailed(f"{live_name} is not on {live.name}")
    excluded, by_filter = await writes_after(journal, live_name, lsn)
    result = Comparison(live.name, len(copy_points), len(live_points), written_since=len(excluded),
                        by_filter=by_filter)

    def note(what: str, point: PointId) -> None:
        shown = result.examples.setdefault(what, [])
        if len(shown) < EXAMPLES:
            shown.append(point)

    for point, (payload, vectors) in live_points.items():
        if point in excluded:
            result.excluded += 1
            continue
        mine = copy_points.get(point)
        if mine is None:
            result.missing += 1
            note("missing", point)
            continue
        if mine[0] != payload:
            result.payload_differs += 1
            note("with payload missing or different", point)
        if mine[1] != vectors:
            result.vectors_differ += 1
            note("with vectors different", point)
    for point in copy_points.keys() - live_points.keys() - excluded:
        result.extra += 1
        note("extra", point)
    return result
