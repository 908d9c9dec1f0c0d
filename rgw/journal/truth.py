"""What the journal says a collection holds: its entries replayed, in LSN order, into a scratch store.

Replaying into a real region store instead of re-implementing Qdrant's write semantics here
means filter deletes, payload operations and Cosine normalisation come out exactly as a region
applies them. The journal is read through the `Journal` interface only, so a shared log could
stand in for SQLite.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rgw.journal.log import Entry, Journal
from rgw.procs import Managed, free_port, store_process
from rgw.qdrant.envelope import error_message
from rgw.qdrant.fields import canonical_id
from rgw.regions.client import RegionClient
from rgw.settings.config import Region

PointId = int | str

COLLECTION_OPS = ("create_collection", "delete_collection")
POINT_OPS = ("upsert", "delete", "batch", "set_payload", "overwrite_payload", "delete_payload", "clear_payload",
             "update_vectors", "delete_vectors")
INDEX_OPS = ("create_index", "delete_index")
ALL_OPS = COLLECTION_OPS + POINT_OPS + INDEX_OPS

READ_PAGE = 500  # journal entries per read: bounds memory whatever the journal's size
APPLY_TIMEOUT_S = 60.0


def point_key(raw: Any) -> PointId:
    """One spelling per point id: UUIDs in Qdrant's lower-case hyphenated form, integers as ints."""
    return canonical_id(raw) if isinstance(raw, str) else int(raw)


@dataclass(frozen=True, slots=True)
class Lineage:
    """A collection's latest create or delete in the retained journal, up to some LSN."""

    collection: str
    created_at: int | None = None  # LSN of the create every later entry builds on
    deleted_at: int | None = None  # LSN of a delete with no create after it


async def lineages(journal: Journal, upto: int) -> dict[str, Lineage]:
    """Per collection, where its history starts in the retained journal (entries with LSN <= upto)."""
    out: dict[str, Lineage] = {}
    for entry in await journal.read_ops(COLLECTION_OPS, after=0):
        if entry.lsn > upto:
            break
        if entry.op == "create_collection":
            out[entry.collection] = Lineage(entry.collection, created_at=entry.lsn)
        else:
            out[entry.collection] = Lineage(entry.collection, deleted_at=entry.lsn)
    return out


async def entries(journal: Journal, after: int, upto: int | None = None) -> AsyncIterator[Entry]:
    """Every entry with after < LSN <= upto (default: the journal's head when opened), a page at a time,
    so memory stays bounded however much was written."""
    upto = journal.head if upto is None else upto
    while after < upto:
        page = await journal.read(after, READ_PAGE)
        if not page:
            return
        for entry in page:
            if entry.lsn > upto:
                return
            yield entry
        after = page[-1].lsn


def touched_ids(op: str, body: bytes) -> tuple[set[PointId], bool]:
    """The point ids one entry writes, and whether it (also) works by filter or on the whole collection.

    Every point write names its points in one of three places: `points` (a list of ids, or of
    point structs with `id`), `batch.ids`, or a `filter`; `batch` entries hold several of those.
    """
    if op in INDEX_OPS:
        return set(), False  # indexes do not change any point's payload or vectors
    if op in COLLECTION_OPS:
        return set(), True
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return set(), True  # unreadable: assume it may touch anything
    parts = [parsed]
    if op == "batch" and isinstance(parsed, dict):
        parts = [value for item in parsed.get("operations") or [] if isinstance(item, dict) for value in item.values()]
    ids: set[PointId] = set()
    by_filter = False
    for part in parts:
        if not isinstance(part, dict):
            by_filter = True
            continue
        if part.get("filter") is not None:
            by_filter = True
        for item in part.get("points") or []:
            raw = item.get("id") if isinstance(item, dict) else item
            if raw is not None:
                ids.add(point_key(raw))
        batch = part.get("batch")
        if isinstance(batch, dict):
            ids.update(point_key(raw) for raw in batch.get("ids") or [])
    return ids, by_filter


@dataclass
class InFlight:
    """Writes journaled after the verified head: the points they touch cannot be compared yet."""

    head: int  # the verified head H; everything after it is in flight
    seen: int = 0  # newest LSN read so far
    ids: dict[str, set[PointId]] = field(default_factory=dict)
    by_filter: dict[str, list[int]] = field(default_factory=dict)  # collection -> LSNs of filter/collection ops

    def __post_init__(self) -> None:
        self.seen = max(self.seen, self.head)

    async def refresh(self, journal: Journal) -> int:
        """Read what was journaled since the last refresh; returns the newest LSN seen.

        `journal` must be freshly opened: one opened by another process than the writer's keeps
        the head it saw when it opened."""
        async for entry in entries(journal, self.seen):
            ids, by_filter = touched_ids(entry.op, entry.body)
            self.ids.setdefault(entry.collection, set()).update(ids)
            if by_filter:
                self.by_filter.setdefault(entry.collection, []).append(entry.lsn)
            self.seen = entry.lsn
        return self.seen

    def excluded(self, collection: str) -> set[PointId]:
        return self.ids.get(collection, set())


@dataclass(frozen=True, slots=True)
class Rejected:
    """A journal entry the scratch store refused; a region's applier would have refused it too."""

    lsn: int
    op: str
    collection: str
    error: str


class ScratchStore:
    """A region store of our own on a free loopback port in a temp dir; killed by PID on exit."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="rgw-verify-")
        base = Path(self._tmp.name)
        self.port = free_port()
        self.process: Managed = store_process("verify-truth", self.port, base / "data", base / "logs")
        self.client = RegionClient(Region(name="truth", url=f"http://127.0.0.1:{self.port}"), max_connections=8)
        self.replayed_to: dict[str, int] = {}  # collection -> LSN its replay reached

    def __enter__(self) -> ScratchStore:
        try:
            self.process.start(wait=30.0)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        self.process.kill()  # by the PID we started; a no-op when it never started
        self._tmp.cleanup()

    def starts(self, lineage: dict[str, Lineage], collections: list[str]) -> dict[str, int]:
        """The first LSN to replay per collection: after what is already replayed, else from its create."""
        out = {}
        for name in collections:
            if name in self.replayed_to:
                out[name] = self.replayed_to[name] + 1
            elif name in lineage and lineage[name].created_at is not None:
                out[name] = lineage[name].created_at or 0
        return out

    async def replay(self, journal: Journal, starts: dict[str, int], upto: int,
                     progress: Callable[[int, int], None]) -> list[Rejected]:
        """Apply every entry of `starts`' collections from its start LSN up to `upto`, in LSN order,
        as the same request a region's applier sends."""
        if not starts:
            return []
        first = min(starts.values())
        total = max(0, upto - first + 1)
        rejected: list[Rejected] = []
        async for entry in entries(journal, first - 1, upto):
            start = starts.get(entry.collection)
            if start is not None and entry.lsn >= start:
                reply = await self.client.send(entry.method, entry.path + "?wait=true", entry.body or None,
                                               APPLY_TIMEOUT_S)
                if reply.status >= 300:
                    rejected.append(Rejected(entry.lsn, entry.op, entry.collection,
                                             f"HTTP {reply.status}: {error_message(reply.body)}"))
            progress(entry.lsn - first + 1, total)
        progress(total, total)
        for name in starts:
            self.replayed_to[name] = upto
        return rejected
