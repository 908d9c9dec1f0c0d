"""Restoring a collection into a region (from a bundle, or from the journal alone: a rebuild).

In place (`--as` not given), the collection is held on the region and marked restoring for the
whole run, so routing never sends a normal read to a half-restored copy: reads go to the next
source in the policy chain, or get `partial` answers from this copy once its coverage reaches
`min_coverage`. The steps:

1. recover: the bundle's snapshot is uploaded to the region (Qdrant's snapshot upload); a rebuild
   instead drops the copy and starts from the journal's create of the collection;
2. replay: the collection's journal entries after the bundle's LSN are applied, in order; the
   hold's position follows, so an interrupted replay resumes where it stopped;
3. check: the copy is compared point by point with a region that has every write (counts,
   payload and vector digests); only when they match is the hold released and the mark cleared.

Each step is recorded in `data_dir/restores/<collection>@<region>.json` before it starts, so a
restore interrupted by a gateway restart can be resumed (`rgw restore --resume`) or rolled back
(`--rollback`: the copy is dropped and the region left without the collection, which routing
already avoids), never left half-routed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from rgw.backup import transfer
from rgw.backup.bundle import Bundle, BundleError, verify_bundle
from rgw.backup.compare import Comparison, compare_copies, writes_after
from rgw.backup.jobs import Job
from rgw.backup.parts import JobFailed, Parts, call, exact_count, exists
from rgw.durable import atomic_write
from rgw.journal.holds import FINAL_STRETCH, HoldError
from rgw.journal.truth import lineages
from rgw.qdrant.names import collection_path

log = logging.getLogger("rgw.restore")

RESTORES_DIR = "restores"
CHECK_ATTEMPTS = 3  # filter writes during a check make it inexact: replay the rest and check again


@dataclass
class RestorePlan:
    collection: str
    region: str
    target: str  # the collection name on the region (the same name, or an isolated copy)
    bundle: str | None  # bundle id; None rebuilds from the journal
    start_lsn: int  # the copy holds every write up to here once recovered
    rate: float | None = None  # journal entries per second while replaying; None: as fast as it goes
    expected_points: int | None = None
    phase: str = "recover"  # recover -> replay -> check
    position: int = 0  # replay position of an isolated copy (an in-place copy's is its hold's)
    started_at: float = 0.0
    recovered_s: float | None = None  # seconds from the start to the snapshot recovered

    @property
    def in_place(self) -> bool:
        return self.target == self.collection

    @property
    def source(self) -> str:
        return "journal" if self.bundle is None else f"bundle {self.bundle}"


def _plan_path(parts: Parts, target: str, region: str) -> Path:
    return parts.data_dir / RESTORES_DIR / f"{target}@{region}.json"


def save_plan(parts: Parts, plan: RestorePlan) -> None:
    path = _plan_path(parts, plan.target, plan.region)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, orjson.dumps(asdict(plan), option=orjson.OPT_INDENT_2))


def load_plan(parts: Parts, target: str, region: str) -> RestorePlan | None:
    """The plan of an unfinished restore into `target` (the collection's name, or its `--as` name)."""
    path = _plan_path(parts, target, region)
    return RestorePlan(**orjson.loads(path.read_bytes())) if path.exists() else None


def interrupted_plans(parts: Parts) -> list[RestorePlan]:
    directory = parts.data_dir / RESTORES_DIR
    return [RestorePlan(**orjson.loads(p.read_bytes())) for p in sorted(directory.glob("*.json"))]


def forget_plan(parts: Parts, plan: RestorePlan) -> None:
    _plan_path(parts, plan.target, plan.region).unlink(missing_ok=True)


async def expected_points(parts: Parts, collection: str, region: str, fallback: int | None) -> int | None:
    """How many points the collection has now: counted on a region with every write, else the last
    count health checks saw elsewhere, else `fallback`."""
    for client in parts.fresh_regions(collection, exclude=region):
        try:
            return await exact_count(client, collection)
        except JobFailed:
            continue
    seen = [r.collections[collection].points_count for name, r in parts.book.regions.items()
            if name != region and collection in r.collections]
    known = [n for n in seen if n is not None]
    return max(known) if known else fallback


async def plan_restore(parts: Parts, collection: str, region: str, bundle: Bundle | None, target: str | None,
                       rate: float | None) -> RestorePlan:
    parts.client(region)
    if load_plan(parts, target or collection, region) is not None:
        raise JobFailed(f"a restore into {target or collection} on {region} was interrupted: resume it (--resume) "
                        "or roll it back (--rollback) first")
    if bundle is not None:
        if bundle.manifest.collection != collection:
            raise JobFailed(f"bundle {bundle.manifest.id} is a backup of {bundle.manifest.collection}, "
                            f"not {collection}")
        verdict = verify_bundle(bundle.path)
        if not verdict.ok:
            raise JobFailed(f"bundle {bundle.manifest.id} is damaged: " + "; ".join(verdict.problems))
        start = bundle.manifest.lsn
    else:
        line = (await lineages(parts.journal, parts.journal.head)).get(collection)
        if line is None or line.created_at is None:
            raise JobFailed(f"the journal holds no create of {collection} (trimmed, or never written through "
                            "the gateway): it cannot be rebuilt from the journal alone; restore a bundle")
        start = line.created_at - 1
    if start + 1 < parts.journal.oldest:
        raise JobFailed(f"the journal was trimmed below lsn {parts.journal.oldest}; restoring from lsn "
                        f"{start} would lose writes")
    fallback = bundle.manifest.points_count if bundle is not None else None
    expected = await expected_points(parts, collection, region, fallback)
    return RestorePlan(collection, region, target or collection, None if bundle is None else bundle.manifest.id,
                       start, rate, expected, started_at=time.time())


async def run_restore(parts: Parts, job: Job, plan: RestorePlan) -> dict[str, Any]:
    """Run (or resume) a restore to the end; returns its summary."""
    client = parts.client(plan.region)
    holds = parts.replication.holds
    if plan.in_place:
        await holds.hold(plan.region, plan.collection)
        parts.operator.mark_restoring(plan.collection, plan.region, plan.expected_points or 0, by=f"job {job.id}")
        parts.book.watch(plan.collection)
    save_plan(parts, plan)
    if plan.phase == "recover":
        await recover(parts, job, plan)
        if plan.in_place and plan.bundle is not None:  # routing's coverage of the copy now, not at the next check
            info = await call(client, "GET", collection_path(plan.target))
            parts.book.record_collection_info(plan.region, plan.target, info)
        plan.phase, plan.position = "replay", plan.start_lsn
        plan.recovered_s = round(time.time() - plan.started_at, 3)
        if plan.in_place:
            await holds.move(plan.region, plan.collection, plan.start_lsn)
        save_plan(parts, plan)
    comparison: Comparison | None = None
    checked_s = 0.0
    for _ in range(CHECK_ATTEMPTS):
        position = await replay_journal(parts, job, plan)
        check_started = time.monotonic()
        comparison = await _check(parts, job, plan, position)
        checked_s += time.monotonic() - check_started
        if comparison is not None:
            break
    if comparison is not None and not comparison.equal:
        raise JobFailed(f"{plan.target} on {plan.region} does not match {comparison.reference} after the replay: "
                        + "; ".join(comparison.problems()) + " (still marked restoring: resume or roll back)")
    replayed_to = await _finish(parts, job, plan)
    points = await exact_count(client, plan.target)
    seconds = time.time() - plan.started_at
    job.enter("done")
    return {"collection": plan.collection, "region": plan.region, "target": plan.target, "source": plan.source,
            "start_lsn": plan.start_lsn, "replayed_to_lsn": replayed_to, "points": points,
            "seconds": round(seconds, 3), "recovered_s": plan.recovered_s, "checked_s": round(checked_s, 3),
            "entries_per_s": round((replayed_to - plan.start_lsn) / seconds, 1) if seconds else None,
            "points_per_s": round(points / seconds, 1) if seconds else None,
            "check": comparison.as_dict() if comparison else "not compared: no other region has every write"}


async def recover(parts: Parts, job: Job, plan: RestorePlan) -> None:
    client = parts.client(plan.region)
    if plan.bundle is None:
        job.enter("dropping the old copy")
        if await exists(client, plan.target):
            await call(client, "DELETE", collection_path(plan.target))
        return
    try:
        bundle = parts.bundles.find(plan.bundle)
    except BundleError as exc:
        raise JobFailed(str(exc)) from exc
    record = bundle.manifest.files["snapshot"]
    job.enter("uploading the snapshot", total=record.size, unit="bytes")
    try:
        await transfer.upload_snapshot(client.region, plan.target, bundle.snapshot, record.sha256, job.counter())
    except transfer.TransferError as exc:
        raise JobFailed(str(exc)) from exc


async def replay_journal(parts: Parts, job: Job, plan: RestorePlan) -> int:
    """Replay until the copy is within a short stretch of the journal (in place: of its applier)."""
    applier = parts.replication.appliers[plan.region]
    holds = parts.replication.holds
    start = holds.position(plan.region, plan.collection) if plan.in_place else plan.position
    assert start is not None
    job.enter("replaying the journal", total=max(0, parts.journal.head - start), unit="entries")

    def progress(lsn: int) -> None:
        job.advance(lsn - start, parts.journal.head - start)

    try:
        if plan.in_place:
            position = start
            while True:
                position = await holds.replay(applier, plan.collection, position, applier.applied, rate=plan.rate,
                                              progress=progress, hold=True)
                if applier.applied - position <= FINAL_STRETCH:
                    return position
        plan.position = await holds.replay(applier, plan.collection, start, parts.journal.head,
                                           target=plan.target, rate=plan.rate, progress=progress)
        save_plan(parts, plan)
        return plan.position
    except HoldError as exc:
        raise JobFailed(str(exc)) from exc


async def _check(parts: Parts, job: Job, plan: RestorePlan, position: int) -> Comparison | None:
    """Compare the copy with a region holding every write; None when filter writes made it inexact."""
    references = parts.fresh_regions(plan.collection, exclude=plan.region if plan.in_place else None)
    if not references:
        log.warning("restore of %s on %s: no other region has every write; not compared",
                    plan.collection, plan.region)
        return Comparison("none", 0, 0)
    reference = references[0]
    await parts.replication.wait_applied([reference.name], position, 30.0)
    _, by_filter = await writes_after(parts.journal, plan.collection, position)
    if by_filter:
        return None
    job.enter("checking the copy", total=2 * (plan.expected_points or 0) or None, unit="points")
    comparison = await compare_copies(parts.client(plan.region), plan.target, reference, plan.collection,
                                      parts.journal, position, job.counter())
    return None if comparison.by_filter else comparison


async def _finish(parts: Parts, job: Job, plan: RestorePlan) -> int:
    job.enter("handing the collection back to replication")
    if plan.in_place:
        position = await parts.replication.holds.catch_up_and_release(plan.region, plan.collection)
        await parts.replication.resolve_dead_letters(plan.region, plan.collection, position)
        parts.operator.mark_restoring(plan.collection, plan.region, None, by=f"job {job.id}")
    else:
        position = plan.position
    forget_plan(parts, plan)
    return position


async def rollback(parts: Parts, target: str, region: str) -> dict[str, Any]:
    """Undo an interrupted restore: drop the half-made copy and every routing mark it left."""
    plan = load_plan(parts, target, region)
    if plan is None:
        raise JobFailed(f"no interrupted restore into {target} on {region}")
    collection = plan.collection
    client = parts.client(region)
    if await exists(client, plan.target):
        await call(client, "DELETE", collection_path(plan.target))
    if plan.in_place:
        await parts.replication.holds.release_as_is(region, collection)
        parts.operator.mark_restoring(collection, region, None, by="rollback")
    forget_plan(parts, plan)
    return {"collection": collection, "region": region, "target": plan.target, "rolled_back": True,
            "note": f"{plan.target} was dropped from {region}; restore it again when ready"}
