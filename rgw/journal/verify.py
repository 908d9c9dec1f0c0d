"""`rgw verify`: anti-entropy. Every region against the journal's truth and against each other.

The truth is the journal replayed to its head H into a scratch store (`rgw.journal.truth`): the
writes the gateway accepted, which no region's copy can vouch for on its own.
Points written after H are left out: a region may or may not have them yet, and neither is drift.

`--repair` writes the truth's version of each wrong point THROUGH THE GATEWAY: the repair is then
journaled and applied in LSN order like any other write, never racing the appliers. A second
pass shows the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, TextIO

import orjson

from rgw.auth.admin import TOKEN_ENV, admin_token
from rgw.auth.client import client_key
from rgw.journal.log import SqliteJournal, journal_path
from rgw.journal.scan import ScanFailed, count_points, list_collections, ordered_ids, rest_call, scan
from rgw.journal.truth import InFlight, Lineage, PointId, ScratchStore, entries, lineages, touched_ids
from rgw.journal.verify_report import (
    SHOWN,
    CollectionReport,
    Ids,
    Outcome,
    PairReport,
    Pass,
    RegionReport,
    RepairReport,
    render,
)
from rgw.ops.client import AdminError, admin_request
from rgw.qdrant.envelope import error_message
from rgw.qdrant.names import collection_path
from rgw.regions.client import RegionClient, UpstreamError
from rgw.settings.config import ConfigError, GatewayConfig, Region, load_config

REPAIR_CHUNK = 256  # points per repair write


class UsageError(Exception):
    """Bad input (config, journal, collection): exit code 2."""


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


# -- waiting for regions -------------------------------------------------------------------------

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
        # Repairs and status reads go through the gateway: with its api key when it has [auth] (never shown),
        # over https when it serves TLS (its CA from the system's store or SSL_CERT_FILE).
        scheme = "https" if config.tls else "http"
        self.gateway_url = f"{scheme}://{host}:{config.port}"
        self.gateway = RegionClient(Region(name="gateway", url=self.gateway_url, api_key=client_key(config)),
                                    max_connections=4)
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
        upsert = ordered_ids(report.to_upsert - excluded)
        delete = ordered_ids(report.to_delete - excluded)
        path = collection_path(report.collection)
        try:
            for i in range(0, len(upsert), REPAIR_CHUNK):
                chunk = upsert[i:i + REPAIR_CHUNK]
                status, records = await rest_call(self.scratch.client, "POST", path + "/points",
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

    async def resolve_dead_letters(self, final: Pass) -> list[str]:
        """Every region now holds the journal's version of each collection the final pass found clean: the
        entries it once rejected no longer make it diverged. Needs the admin token; says so without it."""
        token = admin_token(self.config.admin_token)
        clean = [c.collection for c in final.collections if not c.drift]
        if token is None:
            return [f"diverged marks left as they are: set {TOKEN_ENV} to clear them"] if clean else []
        notes = []
        for collection in clean:
            for region in self.regions:
                try:
                    path = f"/gateway/admin/regions/{region}/dead-letters/resolve"
                    result = await asyncio.to_thread(admin_request, self.gateway_url, "POST", path,
                                                     {"collection": collection, "upto": final.head_lsn}, 30, token)
                except AdminError as exc:
                    notes.append(f"{region}: dead letters of {collection} not resolved: {exc}")
                    continue
                if result["resolved"]:
                    notes.append(f"{region}: {result['resolved']} dead letter(s) of {collection} resolved"
                                 + ("" if result["diverged"] else "; no longer diverged"))
        return notes

    async def _gateway_write(self, method: str, path: str, body: Any) -> int:
        status, result = await rest_call(self.gateway, method, path, body)
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
                outcome.resolved = await verifier.resolve_dead_letters(outcome.after or before)
            return outcome
        finally:
            verifier.close()


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
