"""`rgw verify`: anti-entropy. Every region against the journal's truth and against each other.

One pass, per collection: take the journal head H; wait (bounded) until every region has applied
H; replay the collection's entries up to H into a scratch store (`rgw.journal.truth`); scroll
the truth and every region whole, keeping only id -> digest of payload and vectors; leave out
points written after H (regions may or may not have them yet); report missing, extra and
differing points per region, and differences between regions.

`--repair` upserts the truth's version of every missing or differing point and deletes extra
ones THROUGH THE GATEWAY, so the repair is journaled and every region applies it in LSN order
like any other write (never racing the appliers), then runs a second pass to show the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import numpy as np
import orjson

from rgw.envelope import error_message
from rgw.journal.log import SqliteJournal, journal_path
from rgw.journal.truth import InFlight, Lineage, PointId, ScratchStore, entries, lineages, point_key, touched_ids
from rgw.proxy.config import ConfigError, GatewayConfig, Region, load_config
from rgw.proxy.upstream import RegionClient, UpstreamError

PAGE = 1000  # points per scroll page
SHOWN = 10  # ids shown per list; counts are always whole
REPAIR_CHUNK = 256  # points per repair write
REQUEST_TIMEOUT_S = 60.0


class UsageError(Exception):
    """Bad input (config, journal, collection): exit code 2."""


# -- digests -----------------------------------------------------------------------------------

def _feed_vector(h: Any, vector: Any) -> None:
    # float32 bytes, not JSON text: Qdrant prints a float32's shortest repr, our store the
    # float64 it widened to; both are the same float32.
    if vector is None:
        h.update(b"n")
    elif isinstance(vector, dict):  # sparse; sorted by index so storage order does not matter
        pairs = sorted(zip(vector.get("indices") or [], vector.get("values") or [], strict=False))
        h.update(b"s%d:" % len(pairs))
        h.update(np.asarray([i for i, _ in pairs], dtype=np.uint32).tobytes())
        h.update(np.asarray([v for _, v in pairs], dtype=np.float32).tobytes())
    elif vector and isinstance(vector[0], list):  # multivector
        h.update(b"m%d:" % len(vector))
        for row in vector:
            h.update(b"%d:" % len(row) + np.asarray(row, dtype=np.float32).tobytes())
    else:
        h.update(b"d%d:" % len(vector) + np.asarray(vector, dtype=np.float32).tobytes())


def point_digest(payload: Any, vector: Any) -> bytes:
    """blake2b of the canonical payload and every vector (named ones in name order)."""
    h = hashlib.blake2b(orjson.dumps(payload or {}, option=orjson.OPT_SORT_KEYS), digest_size=16)
    named = vector if isinstance(vector, dict) else ({} if vector is None else {"": vector})
    for name in sorted(named):
        h.update(b"\x00v" + name.encode() + b"\x00")
        _feed_vector(h, named[name])
    return h.digest()


# -- progress ------------------------------------------------------------------------------------

class Progress:
    """`what: done/total` on stderr, at most a few times a second; one rewritten line on a terminal."""

    def __init__(self, stream: TextIO = sys.stderr, interval: float = 0.5) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._interval = interval
        self._last = 0.0
        self._shown: tuple[str, int, int] | None = None  # last count given, for finish()
        self._printed: tuple[str, int, int] | None = None  # last count written

    def __call__(self, what: str, done: int, total: int, final: bool = False) -> None:
        shown = (what, done, total)
        now = time.monotonic()
        if (not final and now - self._last < self._interval) or (final and shown == self._printed and not self._tty):
            self._shown = shown
            return
        self._last, self._shown, self._printed = now, None if final else shown, shown
        line = f"rgw verify: {what}: {done}/{total}"
        if self._tty:
            self._stream.write("\r\x1b[K" + line + ("\n" if final else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """Show the last count as final, however recently a line was written."""
        if self._shown is not None:
            self(*self._shown, final=True)
        self._shown = None

    def note(self, text: str) -> None:
        self._stream.write(f"rgw verify: {text}\n")
        self._stream.flush()


# -- the report ----------------------------------------------------------------------------------

def _ordered(ids: Iterable[PointId]) -> list[PointId]:
    return sorted(ids, key=lambda i: (isinstance(i, str), i))


@dataclass
class Ids:
    """A set of point ids as reported: how many, and the first few."""

    count: int = 0
    first: list[PointId] = field(default_factory=list)

    @classmethod
    def of(cls, ids: set[PointId]) -> Ids:
        return cls(len(ids), _ordered(ids)[:SHOWN])

    def show(self) -> str:
        more = ", ..." if self.count > len(self.first) else ""
        return ", ".join(map(str, self.first)) + more


@dataclass
class RegionReport:
    region: str
    present: bool = False  # the collection exists there
    points: int | None = None
    applied_lsn: int | None = None
    lagging: bool = False  # had not applied the verified head in time: its results are provisional
    error: str | None = None
    missing: Ids = field(default_factory=Ids)  # in the truth, not in the region
    extra: Ids = field(default_factory=Ids)  # in the region, not in the truth
    differing: Ids = field(default_factory=Ids)  # in both, different payload or vectors
    notes: list[str] = field(default_factory=list)
    wrong_existence: bool = False  # the collection exists where the truth says it does not, or vice versa

    @property
    def drift(self) -> bool:
        return bool(self.error or self.wrong_existence or self.missing.count or self.extra.count
                    or self.differing.count)


@dataclass
class PairReport:
    a: str
    b: str
    only_a: Ids = field(default_factory=Ids)
    only_b: Ids = field(default_factory=Ids)
    differing: Ids = field(default_factory=Ids)

    @property
    def drift(self) -> bool:
        return bool(self.only_a.count or self.only_b.count or self.differing.count)


@dataclass
class CollectionReport:
    collection: str
    head_lsn: int
    truth: str  # "journal": replayed; "deleted": the journal deleted it; "none": the journal cannot tell
    truth_points: int | None = None
    excluded: int = 0  # points written after head_lsn, left out of every comparison
    provisional: bool = False
    notes: list[str] = field(default_factory=list)
    regions: list[RegionReport] = field(default_factory=list)
    pairs: list[PairReport] = field(default_factory=list)
    seconds: float = 0.0
    # What a repair would write: the truth's version of these ids, and deletes of those. Not reported.
    to_upsert: set[PointId] = field(default_factory=set, repr=False)
    to_delete: set[PointId] = field(default_factory=set, repr=False)

    @property
    def drift(self) -> bool:
        return any(r.drift for r in self.regions) or any(p.drift for p in self.pairs)

    def as_dict(self) -> dict[str, Any]:
        def ids(i: Ids) -> dict[str, Any]:
            return {"count": i.count, "first": i.first}

        return {
            "collection": self.collection, "head_lsn": self.head_lsn, "truth": self.truth,
            "truth_points": self.truth_points, "excluded_in_flight": self.excluded, "provisional": self.provisional,
            "drift": self.drift, "notes": self.notes, "seconds": round(self.seconds, 3),
            "regions": [{"region": r.region, "present": r.present, "points": r.points, "applied_lsn": r.applied_lsn,
                         "lagging": r.lagging, "error": r.error, "drift": r.drift, "missing": ids(r.missing),
                         "extra": ids(r.extra), "differing": ids(r.differing), "notes": r.notes}
                        for r in self.regions],
            "pairs": [{"a": p.a, "b": p.b, "only_a": ids(p.only_a), "only_b": ids(p.only_b),
                       "differing": ids(p.differing), "drift": p.drift} for p in self.pairs],
        }


@dataclass
class RepairReport:
    collection: str
    upserted: int = 0
    deleted: int = 0
    lsns: list[int] = field(default_factory=list)  # journal positions the repair writes got
    skipped: str | None = None
    error: str | None = None
    overwritten: Ids = field(default_factory=Ids)  # repaired ids a client also wrote while repairing

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "upserted": self.upserted, "deleted": self.deleted,
                "lsns": self.lsns, "skipped": self.skipped, "error": self.error,
                "overwritten": {"count": self.overwritten.count, "first": self.overwritten.first}}


@dataclass
class Pass:
    head_lsn: int
    oldest_lsn: int
    collections: list[CollectionReport]
    seconds: float

    @property
    def drift(self) -> bool:
        return any(c.drift for c in self.collections)

    def as_dict(self) -> dict[str, Any]:
        return {"head_lsn": self.head_lsn, "oldest_lsn": self.oldest_lsn, "drift": self.drift,
                "seconds": round(self.seconds, 3), "collections": [c.as_dict() for c in self.collections]}


@dataclass
class Outcome:
    before: Pass
    repairs: list[RepairReport] | None = None
    after: Pass | None = None

    @property
    def exit_code(self) -> int:
        final = self.after or self.before
        failed = any(r.error for r in self.repairs or [])
        return 1 if final.drift or failed else 0

    def as_dict(self) -> dict[str, Any]:
        return {"drift": self.exit_code != 0, "before": self.before.as_dict(),
                "repair": None if self.repairs is None else [r.as_dict() for r in self.repairs],
                "after": None if self.after is None else self.after.as_dict()}


# -- reading regions -------------------------------------------------------------------------------

class ScanFailed(Exception):
    pass


def _collection_path(collection: str, rest: str = "") -> str:
    return f"/collections/{quote(collection, safe='')}{rest}"


async def _call(client: RegionClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, result or error text) of one Qdrant REST call."""
    reply = await client.send(method, path, orjson.dumps(body) if body is not None else None, REQUEST_TIMEOUT_S)
    if reply.status >= 300:
        return reply.status, error_message(reply.body)
    return reply.status, orjson.loads(reply.body).get("result")


async def count_points(client: RegionClient, collection: str) -> int | None:
    status, result = await _call(client, "POST", _collection_path(collection, "/points/count"), {"exact": True})
    return int(result["count"]) if status == 200 else None


def whole_digest(point: dict[str, Any]) -> bytes:
    return point_digest(point.get("payload"), point.get("vector"))


def _digest_page(raw: bytes, digest: Callable[[dict[str, Any]], Any]) -> tuple[dict[PointId, Any], Any]:
    result = orjson.loads(raw)["result"]
    return {point_key(p["id"]): digest(p) for p in result["points"]}, result.get("next_page_offset")


async def scan(client: RegionClient, collection: str, tick: Callable[[int], None],
               digest: Callable[[dict[str, Any]], Any] = whole_digest) -> dict[PointId, Any] | None:
    """id -> digest of every point of the collection there; None when it has no such collection.

    Pages are decoded and digested on a worker thread: inside the gateway, a scan must not hold
    its event loop for the ~100 ms a page of 384-d vectors takes.
    """
    digests: dict[PointId, Any] = {}
    offset: Any = None
    path = _collection_path(collection, "/points/scroll")
    while True:
        body: dict[str, Any] = {"limit": PAGE, "with_payload": True, "with_vector": True}
        if offset is not None:
            body["offset"] = offset
        reply = await client.send("POST", path, orjson.dumps(body), REQUEST_TIMEOUT_S)
        if reply.status == 404 and offset is None:
            return None
        if reply.status != 200:
            raise ScanFailed(f"scroll answered HTTP {reply.status}: {error_message(reply.body)}")
        page, offset = await asyncio.to_thread(_digest_page, reply.body, digest)
        digests.update(page)
        tick(len(page))
        if offset is None:
            return digests


async def list_collections(client: RegionClient) -> set[str]:
    status, result = await _call(client, "GET", "/collections")
    if status != 200:
        raise ScanFailed(f"listing collections answered HTTP {status}: {result}")
    return {c["name"] for c in result["collections"]}


@dataclass
class Positions:
    """What the gateway says each region has applied."""

    applied: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


async def wait_applied(gateway: RegionClient, target: int, wait_s: float) -> Positions:
    """Poll /gateway/status until every region has applied `target`, for at most wait_s seconds."""
    deadline = time.monotonic() + wait_s
    positions = Positions()
    while True:
        try:
            reply = await gateway.send("GET", "/gateway/status", None, 5.0)
            if reply.status != 200:
                raise ScanFailed(f"HTTP {reply.status}: {error_message(reply.body)}")
            regions = orjson.loads(reply.body)["regions"]
            positions = Positions()
            for region in regions:
                replication = region.get("replication") or {}
                positions.applied[region["name"]] = int(replication.get("applied_lsn", 0))
                if replication.get("diverged"):
                    positions.notes.setdefault(region["name"], []).append(
                        f"diverged: {replication.get('diverged_reason')}")
            if all(lsn >= target for lsn in positions.applied.values()):
                return positions
        except (UpstreamError, ScanFailed, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            positions = Positions(error=f"gateway status unavailable: {exc}")
        if time.monotonic() >= deadline:
            return positions
        await asyncio.sleep(0.2)


# -- comparing ------------------------------------------------------------------------------------

def _diff(a: dict[PointId, bytes], b: dict[PointId, bytes],
          excluded: set[PointId]) -> tuple[set[PointId], set[PointId], set[PointId]]:
    """(only in a, only in b, in both but different), leaving out `excluded`."""
    only_a = a.keys() - b.keys() - excluded
    only_b = b.keys() - a.keys() - excluded
    differing = {i for i, d in a.items() if i in b and b[i] != d and i not in excluded}
    return only_a, only_b, differing


def compare(report: CollectionReport, truth: dict[PointId, bytes] | None,
            regions: dict[str, dict[PointId, bytes] | None], excluded: set[PointId]) -> None:
    """Fill the report's per-region and region-pair differences."""
    by_name = {r.region: r for r in report.regions}
    for name, points in regions.items():
        region = by_name[name]
        if region.error:
            continue
        region.present = points is not None
        region.points = None if points is None else len(points)
        if report.truth == "none":
            continue
        truth_present = truth is not None
        if region.present != truth_present:
            region.wrong_existence = True
            region.notes.append("collection missing here" if truth_present else
                                "collection present here but deleted in the journal")
        missing, extra, differing = _diff(truth or {}, points or {}, excluded)
        region.missing, region.extra, region.differing = Ids.of(missing), Ids.of(extra), Ids.of(differing)
        if region.present:  # points cannot be repaired into a collection that is not there
            report.to_upsert |= missing | differing
            report.to_delete |= extra
    readable = [(n, p) for n, p in regions.items() if not by_name[n].error]
    for (a, pa), (b, pb) in combinations(readable, 2):
        only_a, only_b, differing = _diff(pa or {}, pb or {}, excluded)
        pair = PairReport(a, b, Ids.of(only_a), Ids.of(only_b), Ids.of(differing))
        if (pa is None) != (pb is None):
            report.notes.append(f"the collection exists on {a if pb is None else b} only")
        report.pairs.append(pair)


# -- one pass ------------------------------------------------------------------------------------

class Verifier:
    def __init__(self, config: GatewayConfig, scratch: ScratchStore, progress: Progress, wait_s: float) -> None:
        self.config = config
        self.scratch = scratch
        self.progress = progress
        self.wait_s = wait_s
        self.regions = {r.name: RegionClient(r, max_connections=4) for r in config.regions}
        host = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        self.gateway = RegionClient(Region(name="gateway", url=f"http://{host}:{config.port}"), max_connections=4)
        self.journal_path = journal_path(config.data_dir)

    def close(self) -> None:
        for client in [*self.regions.values(), self.gateway]:
            client.close()

    @contextlib.asynccontextmanager
    async def journal_now(self) -> AsyncIterator[SqliteJournal]:
        """The journal as it is now. Opened afresh each time: an open journal keeps the head it saw at
        open (only the gateway appends), which is also what makes that head the one a pass verifies."""
        if not self.journal_path.exists():
            raise UsageError(f"no journal at {self.journal_path} (gateway.data_dir in the config)")
        journal = SqliteJournal(self.journal_path, memory_entries=0, memory_bytes=0)
        try:
            yield journal
        finally:
            await journal.close()

    async def discover(self, lineage: dict[str, Lineage]) -> list[str]:
        """Every collection any region holds or the journal says exists."""
        names = {n for n, line in lineage.items() if line.created_at is not None}
        for name, client in self.regions.items():
            try:
                names |= await list_collections(client)
            except (UpstreamError, ScanFailed) as exc:
                self.progress.note(f"cannot list collections on {name}: {exc}")
        return sorted(names)

    async def run_pass(self, collections: list[str] | None) -> tuple[Pass, InFlight, list[str]]:
        started = time.monotonic()
        async with self.journal_now() as journal:
            head, oldest = journal.head, journal.oldest
            self.progress.note(f"journal head {head}, oldest retained {oldest}; waiting for regions to apply it")
            positions = await wait_applied(self.gateway, head, self.wait_s)
            lineage = await lineages(journal, head)
            names = collections if collections is not None else await self.discover(lineage)
            starts = self.scratch.starts(lineage, names)
            rejected = await self.scratch.replay(
                journal, starts, head, lambda done, total: self.progress("replaying journal (entries)", done, total))
            self.progress.finish()
            inflight = InFlight(head)
            reports = []
            for name in names:
                report = await self.check(name, head, oldest, lineage.get(name), positions, inflight)
                report.notes += [f"truth replay: lsn {r.lsn} ({r.op}) rejected: {r.error}" for r in rejected
                                 if r.collection == name][:SHOWN]
                reports.append(report)
            return Pass(head, oldest, reports, time.monotonic() - started), inflight, names

    async def check(self, name: str, head: int, oldest: int, line: Lineage | None, positions: Positions,
                    inflight: InFlight) -> CollectionReport:
        started = time.monotonic()
        if line is not None and line.created_at is not None:
            truth_kind = "journal"
        elif line is not None:
            truth_kind = "deleted"
        else:
            truth_kind = "none"
        report = CollectionReport(name, head, truth_kind)
        if truth_kind == "none":
            report.notes.append(
                f"no journal truth: the journal was trimmed below lsn {oldest} and no longer holds this "
                "collection's create; regions compared with each other only" if oldest > 1 else
                "no journal truth: the journal never saw this collection created (it was created behind the "
                "gateway or before journaling); regions compared with each other only")
        for region in self.regions:
            r = RegionReport(region, applied_lsn=positions.applied.get(region))
            r.notes += positions.notes.get(region, [])
            if r.applied_lsn is None or r.applied_lsn < head:
                r.lagging = True
                report.provisional = True
                if not positions.error:
                    r.notes.append(f"had applied lsn {r.applied_lsn} of {head} after waiting {self.wait_s:g}s: "
                                   "its differences may be writes still on their way")
            report.regions.append(r)
        if positions.error:
            report.notes.append(f"{positions.error}: how far regions have applied the journal is unknown")

        sources: dict[str, RegionClient] = dict(self.regions)
        if truth_kind == "journal":
            sources = {"": self.scratch.client, **sources}
        totals = await asyncio.gather(*(self._count(c, name) for c in sources.values()))
        total = sum(t or 0 for t in totals)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            self.progress(f"scrolling {name} (points)", done, total)

        results = await asyncio.gather(*(scan(c, name, tick) for c in sources.values()), return_exceptions=True)
        self.progress(f"scrolling {name} (points)", done, total)
        self.progress.finish()
        scanned = dict(zip(sources, results, strict=True))
        truth = scanned.pop("", None)
        if isinstance(truth, BaseException):
            raise truth  # our own scratch store failing is not drift: stop
        regions: dict[str, dict[PointId, bytes] | None] = {}
        for r in report.regions:
            result = scanned[r.region]
            if isinstance(result, BaseException):
                r.error = f"cannot read the region: {result}"
            else:
                regions[r.region] = result
        report.truth_points = len(truth) if isinstance(truth, dict) else (0 if truth_kind == "deleted" else None)

        # Only now, after every region was read, collect what was written after the head.
        async with self.journal_now() as journal:
            await inflight.refresh(journal)
        excluded = inflight.excluded(name)
        report.excluded = len(excluded)
        if inflight.by_filter.get(name):
            report.provisional = True
            lsns = inflight.by_filter[name]
            report.notes.append(f"{len(lsns)} write(s) after lsn {head} work by filter or on the whole collection "
                                f"(lsn {', '.join(map(str, lsns[:SHOWN]))}): any point may have changed since")
        compare(report, truth if isinstance(truth, dict) else None, regions, excluded)
        if truth_kind == "none" and not any(r.present or r.error for r in report.regions):
            raise UsageError(f"no collection {name!r}: no region holds it and the journal never created it")
        report.seconds = time.monotonic() - started
        return report

    async def _count(self, client: RegionClient, collection: str) -> int | None:
        try:
            return await count_points(client, collection)
        except UpstreamError:
            return None

    # -- repair ------------------------------------------------------------------------------------

    async def repair(self, report: CollectionReport, inflight: InFlight) -> RepairReport:
        out = RepairReport(report.collection)
        if not report.drift:
            return out
        if report.truth != "journal":
            out.skipped = ("no journal truth to repair from" if report.truth == "none" else
                           "the journal deleted this collection; drop it on the regions that still hold it")
            return out
        if any(r.error for r in report.regions):
            out.skipped = "a region could not be read; repair only what was verified"
            return out
        async with self.journal_now() as journal:
            # Writes since the verify pass read the journal: those points are the clients' now.
            since = await inflight.refresh(journal)
        if inflight.by_filter.get(report.collection):
            # A filter write after the head may have deleted or changed points on purpose;
            # re-upserting the head's version could undo an acknowledged write.
            out.skipped = "writes by filter after the verified head: re-run verify when writes are quiet"
            return out
        excluded = inflight.excluded(report.collection)
        upsert = _ordered(report.to_upsert - excluded)
        delete = _ordered(report.to_delete - excluded)
        path = _collection_path(report.collection)
        try:
            for i in range(0, len(upsert), REPAIR_CHUNK):
                chunk = upsert[i:i + REPAIR_CHUNK]
                status, records = await _call(self.scratch.client, "POST", path + "/points",
                                              {"ids": chunk, "with_payload": True, "with_vector": True})
                if status != 200:
                    raise ScanFailed(f"reading the truth answered HTTP {status}: {records}")
                points = [{"id": p["id"], "vector": p.get("vector") or {}, "payload": p.get("payload") or {}}
                          for p in records]
                out.lsns.append(await self._gateway_write("PUT", path + "/points?wait=true", {"points": points}))
                out.upserted += len(points)
                self.progress(f"repairing {report.collection} (points)", out.upserted, len(upsert) + len(delete))
            for i in range(0, len(delete), REPAIR_CHUNK):
                chunk = delete[i:i + REPAIR_CHUNK]
                out.lsns.append(await self._gateway_write("POST", path + "/points/delete?wait=true",
                                                          {"points": chunk}))
                out.deleted += len(chunk)
                self.progress(f"repairing {report.collection} (points)", out.upserted + out.deleted,
                              len(upsert) + len(delete))
            self.progress.finish()
        except (UpstreamError, ScanFailed) as exc:
            out.error = str(exc)
            return out
        await self._raced(out, since, set(upsert) | set(delete))
        return out

    async def _gateway_write(self, method: str, path: str, body: Any) -> int:
        status, result = await _call(self.gateway, method, path, body)
        if status != 200:
            raise ScanFailed(f"the gateway refused the repair write: HTTP {status}: {result}")
        return int(result["operation_id"])

    async def _raced(self, out: RepairReport, since: int, repaired: set[PointId]) -> None:
        """Name repaired ids a client wrote between our last look at the journal and our last repair write:
        the repair may have overwritten those writes (conservative: the order within chunks is not checked)."""
        if not out.lsns:
            return
        last, own = max(out.lsns), set(out.lsns)
        raced: set[PointId] = set()
        async with self.journal_now() as journal:
            async for entry in entries(journal, since, last):
                if entry.collection == out.collection and entry.lsn not in own:
                    ids, by_filter = touched_ids(entry.op, entry.body)
                    raced |= repaired if by_filter else ids & repaired
        out.overwritten = Ids.of(raced)


# -- running it ----------------------------------------------------------------------------------

async def verify(config: GatewayConfig, collections: list[str] | None, repair: bool, wait_s: float,
                 progress: Progress) -> Outcome:
    """One verify pass; with `repair`, the repair through the gateway and a second pass."""
    with ScratchStore() as scratch:
        verifier = Verifier(config, scratch, progress, wait_s)
        try:
            before, inflight, names = await verifier.run_pass(collections)
            outcome = Outcome(before)
            if repair:
                outcome.repairs = [await verifier.repair(c, inflight) for c in before.collections]
                if before.drift:
                    progress.note("repair written; verifying again")
                    outcome.after, _, _ = await verifier.run_pass(names)
            return outcome
        finally:
            verifier.close()


def _region_line(r: RegionReport) -> list[str]:
    lines = []
    for label, ids in (("missing", r.missing), ("extra", r.extra), ("differing", r.differing)):
        if ids.count:
            lines.append(f"    {r.region} {label}: {ids.show()}")
    if r.error:
        lines.append(f"    {r.region}: {r.error}")
    lines += [f"    {r.region}: {note}" for note in r.notes]
    return lines


def render_collection(c: CollectionReport) -> list[str]:
    truth = {"journal": f"journal replayed to lsn {c.head_lsn}, {c.truth_points} points",
             "deleted": f"deleted in the journal by lsn {c.head_lsn}",
             "none": "none (regions compared with each other)"}[c.truth]
    head = f"collection {c.collection}: truth = {truth}; {c.excluded} points written after it left out"
    lines = [head + (" (PROVISIONAL)" if c.provisional else "")]
    rows = [("REGION", "POINTS", "APPLIED", "MISSING", "EXTRA", "DIFFERING")]
    for r in c.regions:
        dash = "-" if c.truth == "none" or r.error else None
        rows.append((r.region, "absent" if not r.present and not r.error else str(r.points if r.points is not None
                                                                                  else "?"),
                     str(r.applied_lsn if r.applied_lsn is not None else "?") + (" (lagging)" if r.lagging else ""),
                     dash or str(r.missing.count), dash or str(r.extra.count), dash or str(r.differing.count)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    for r in c.regions:
        lines += _region_line(r)
    for p in c.pairs:
        if p.drift:
            parts = [f"only on {name} {ids.count} ({ids.show()})" for name, ids in ((p.a, p.only_a), (p.b, p.only_b))
                     if ids.count]
            if p.differing.count:
                parts.append(f"differing {p.differing.count} ({p.differing.show()})")
            lines.append(f"  {p.a} vs {p.b}: " + "; ".join(parts))
        else:
            lines.append(f"  {p.a} vs {p.b}: identical")
    lines += [f"  note: {note}" for note in c.notes]
    lines.append("  => DRIFT" if c.drift else "  => clean")
    return lines


def render_pass(p: Pass) -> list[str]:
    lines = [f"journal head {p.head_lsn} (oldest retained {p.oldest_lsn}); verified in {p.seconds:.1f}s", ""]
    for c in p.collections:
        lines += [*render_collection(c), ""]
    drifted = sum(c.drift for c in p.collections)
    lines.append(f"drift in {drifted} of {len(p.collections)} collection(s)" if drifted else
                 f"no drift in {len(p.collections)} collection(s)")
    return lines


def render(outcome: Outcome) -> str:
    lines = render_pass(outcome.before)
    for r in outcome.repairs or []:
        if r.skipped:
            lines.append(f"repair {r.collection}: skipped: {r.skipped}")
        elif r.error:
            lines.append(f"repair {r.collection}: FAILED after {r.upserted} upserted, {r.deleted} deleted: {r.error}")
        elif r.lsns:
            lines.append(f"repair {r.collection}: upserted {r.upserted} and deleted {r.deleted} points through the "
                         f"gateway (journal lsn {min(r.lsns)}..{max(r.lsns)})")
            if r.overwritten.count:
                lines.append(f"  warning: clients also wrote {r.overwritten.count} repaired point(s) meanwhile, "
                             f"the repair may have overwritten them: {r.overwritten.show()}")
    if outcome.after is not None:
        lines += ["", "after repair:", *render_pass(outcome.after)]
    return "\n".join(lines)


def run_verify(config_path: str | Path, collections: list[str] | None = None, repair: bool = False,
               as_json: bool = False, wait_s: float = 60.0) -> int:
    """`rgw verify`: 0 no drift (after repair: the re-check is clean), 1 drift, 2 usage or config error."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"rgw verify: invalid config {config_path}: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(verify(config, collections, repair, wait_s, Progress()))
    except UsageError as exc:
        print(f"rgw verify: {exc}", file=sys.stderr)
        return 2
    except (ScanFailed, UpstreamError, RuntimeError, TimeoutError) as exc:
        # The scratch store (the truth) failed to start or answer: nothing was verified.
        print(f"rgw verify: could not verify: {exc}", file=sys.stderr)
        return 1
    if as_json:
        sys.stdout.write(orjson.dumps(outcome.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(outcome))
    return outcome.exit_code
