"""The gateway's backup side: starts jobs, runs scheduled backups, keeps the journal bundles need.

Scheduled backups follow each collection's policy (`backup_interval_s`, `backup_keep`, with tier
defaults): like a cron, the first comes one interval after the gateway first sees the collection,
then one interval after the newest bundle, from the first region that has every write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from rgw.backup.backup import pick_source, run_backup
from rgw.backup.bundle import Bundle, BundleError
from rgw.backup.drill import run_drill
from rgw.backup.jobs import Job, JobConflict
from rgw.backup.parts import JobFailed, Parts
from rgw.backup.restore import RestorePlan, interrupted_plans, load_plan, plan_restore, rollback, run_restore

log = logging.getLogger("rgw.backups")

SCHEDULE_TICK_S = 1.0


class BackupService:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self._first_seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._oldest_lsn: int | None = parts.bundles.oldest_lsn()

    # -- journal retention -----------------------------------------------------------------
    def journal_position(self) -> int:
        """Bundles need every entry after their LSN: the journal keeps them (a consumer's position)."""
        return self.parts.journal.head if self._oldest_lsn is None else self._oldest_lsn

    def _bundles_changed(self) -> None:
        self._oldest_lsn = self.parts.bundles.oldest_lsn()

    # -- jobs --------------------------------------------------------------------------------
    def backup(self, collection: str, region: str | None) -> Job:
        source = pick_source(self.parts, collection, region)

        async def work(job: Job) -> dict[str, Any]:
            try:
                return await run_backup(self.parts, job, collection, source)
            finally:
                self._bundles_changed()

        return self.parts.jobs.start("backup", collection, source, work)

    async def restore(self, collection: str, region: str, bundle_ref: str | None, target: str | None,
                      rate: float | None) -> Job:
        bundle = self._bundle(collection, bundle_ref)
        self.parts.jobs.ensure_free(collection)
        plan = await plan_restore(self.parts, collection, region, bundle, target, rate)
        return self._run_plan("restore", plan)

    async def rebuild(self, collection: str, region: str, rate: float | None) -> Job:
        self.parts.jobs.ensure_free(collection)
        plan = await plan_restore(self.parts, collection, region, None, None, rate)
        return self._run_plan("rebuild", plan)

    def resume(self, target: str, region: str) -> Job:
        plan = load_plan(self.parts, target, region)
        if plan is None:
            raise JobFailed(f"no interrupted restore into {target} on {region}")
        return self._run_plan("restore" if plan.bundle else "rebuild", plan)

    async def rollback(self, target: str, region: str) -> dict[str, Any]:
        self.parts.jobs.ensure_free(target)
        return await rollback(self.parts, target, region)

    def drill(self, collection: str, region: str | None, bundle_ref: str | None, keep: bool) -> Job:
        bundle = self._bundle(collection, bundle_ref)
        where = pick_source(self.parts, collection, region)
        return self.parts.jobs.start("drill", collection, where,
                                     lambda job: run_drill(self.parts, job, collection, where, bundle, keep))

    def _run_plan(self, kind: str, plan: RestorePlan) -> Job:
        return self.parts.jobs.start(kind, plan.collection, plan.region,
                                     lambda job: run_restore(self.parts, job, plan))

    def _bundle(self, collection: str, ref: str | None) -> Bundle:
        try:
            return self.parts.bundles.find(ref) if ref else self.parts.bundles.latest(collection)
        except BundleError as exc:
            raise JobFailed(str(exc)) from exc

    # -- schedule ----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._schedule(), name="backup-schedule")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.parts.jobs.stop()

    def due(self, now: float) -> list[str]:
        """Collections whose next scheduled backup is due."""
        out = []
        for collection in self._known_collections():
            interval, _ = self.parts.operator.policy(collection).backup_schedule()
            first_seen = self._first_seen.setdefault(collection, now)
            if interval <= 0:
                continue
            bundles = self.parts.bundles.list(collection)
            last = bundles[-1].manifest.created_at if bundles else first_seen
            if now - last >= interval and self.parts.jobs.running(collection) is None:
                out.append(collection)
        return out

    async def _schedule(self) -> None:
        while True:
            await asyncio.sleep(SCHEDULE_TICK_S)
            for collection in self.due(time.time()):
                try:
                    job = self.backup(collection, None)
                    log.info("scheduled backup of %s started from %s (job %s)", collection, job.region, job.id)
                except (JobFailed, JobConflict) as exc:
                    log.warning("scheduled backup of %s skipped: %s", collection, exc)
                    self._first_seen[collection] = time.time()  # try again one interval later

    def _known_collections(self) -> set[str]:
        return {name for region in self.parts.book.regions.values()
                for name, state in region.collections.items() if state.present and "-drill-" not in name}

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        bundles: dict[str, Any] = {}
        now = time.time()
        for bundle in self.parts.bundles.list():
            entry = bundles.setdefault(bundle.manifest.collection, {"count": 0, "bytes": 0})
            entry["count"] += 1
            entry["bytes"] += sum(f.size for f in bundle.manifest.files.values())
            entry["newest"] = bundle.manifest.id
            entry["newest_age_s"] = round(now - bundle.manifest.created_at, 1)
            entry["newest_lsn"] = bundle.manifest.lsn
        return {"jobs": self.parts.jobs.status(), "bundles": bundles, "journal_kept_from_lsn": self._oldest_lsn,
                "interrupted_restores": [
                    {"collection": p.collection, "region": p.region, "target": p.target, "phase": p.phase,
                     "source": p.source}
                    for p in interrupted_plans(self.parts) if self.parts.jobs.running(p.collection) is None]}
