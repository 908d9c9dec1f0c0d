"""Restore drills: prove that the latest backup plus the journal gives the collection back.

The newest bundle is restored (snapshot, then journal replay) into an isolated collection on a
region, and the copy is checked against the live collection: point count, every point's payload
and vectors, sample payload filters, and top-k overlap on sample queries. The report gives the
time to recovery (RTO) and the data window the bundle plus journal covers (RPO), as Markdown and
JSON; the copy is dropped afterwards unless kept.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rgw.auth.rules import access_rules, describe
from rgw.backup.bundle import Bundle
from rgw.backup.compare import compare_copies, writes_after
from rgw.backup.jobs import Job
from rgw.backup.parts import JobFailed, Parts, call, exact_count, exists
from rgw.backup.restore import forget_plan, plan_restore, recover, replay_journal, save_plan
from rgw.durable import atomic_write
from rgw.qdrant.names import collection_path
from rgw.regions.client import RegionClient

DRILLS_DIR = "drills"
SAMPLE_POINTS = 200
SAMPLE_FILTERS = 5
SAMPLE_QUERIES = 10
TOP_K = 10
MIN_OVERLAP = 0.95  # exact search on both sides: anything lower is a real difference, not ties


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DrillReport:
    collection: str
    region: str
    copy: str
    bundle: str
    bundle_lsn: int
    replayed_to_lsn: int
    reference: str
    checks: list[Check] = field(default_factory=list)
    rto_s: float = 0.0
    rpo: dict[str, Any] = field(default_factory=dict)
    kept: bool = False
    access: dict[str, Any] = field(default_factory=dict)  # the bundle's access rules (who may read, write, manage)
    access_now: dict[str, Any] = field(default_factory=dict)  # those the gateway enforces for the collection now

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def markdown(self) -> str:
        lines = [f"# Restore drill: {self.collection} — {'PASSED' if self.ok else 'FAILED'}", "",
                 f"- Bundle `{self.bundle}` (LSN {self.bundle_lsn}), restored into `{self.copy}` on "
                 f"{self.region}, journal replayed to LSN {self.replayed_to_lsn}",
                 f"- Compared with the live collection on {self.reference}",
                 f"- RTO: {self.rto_s:.2f} s (snapshot recovery plus journal replay)",
                 f"- RPO: {self.rpo.get('summary', '')}",
                 f"- Isolated copy {'kept' if self.kept else 'removed'}",
                 f"- Access rules in the bundle: {describe(self.access)}",
                 "- Access rules in force now: " + ("the same" if self.access == self.access_now
                                                    else describe(self.access_now)), "",
                 "| check | result | detail |", "|---|---|---|"]
        lines += [f"| {c.name} | {'ok' if c.ok else 'FAILED'} | {c.detail} |" for c in self.checks]
        return "\n".join(lines) + "\n"


def _rpo(parts: Parts, bundle: Bundle) -> dict[str, Any]:
    covered = parts.journal.oldest <= bundle.manifest.lsn + 1
    age = time.time() - bundle.manifest.created_at
    summary = (f"0 s: the journal holds every write since the bundle (LSN {bundle.manifest.lsn + 1} onwards); "
               f"the bundle alone is {age:.0f} s old" if covered else
               f"{age:.0f} s: the journal no longer holds every write since the bundle")
    return {"seconds": 0.0 if covered else round(age, 1), "bundle_age_s": round(age, 1),
            "journal_covers_from_lsn": parts.journal.oldest, "summary": summary}


async def _samples(live: RegionClient, collection: str) -> list[dict[str, Any]]:
    result = await call(live, "POST", collection_path(collection, "points", "scroll"),
                        {"limit": SAMPLE_POINTS, "with_payload": True, "with_vector": True})
    return list(result["points"])


def _sample_filters(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Equality filters on scalar payload values seen in the sample, one per key."""
    seen: dict[str, Any] = {}
    for point in points:
        for key, value in (point.get("payload") or {}).items():
            if key not in seen and isinstance(value, str | int | bool) and len(str(value)) <= 200:
                seen[key] = value
    return [{"must": [{"key": k, "match": {"value": v}}]} for k, v in list(seen.items())[:SAMPLE_FILTERS]]


async def _filters_check(copy: RegionClient, copy_name: str, live: RegionClient, live_name: str,
                         filters: list[dict[str, Any]]) -> Check:
    if not filters:
        return Check("payload filters", True, "no scalar payload values to filter on")
    differing = []
    for f in filters:
        mine = await call(copy, "POST", collection_path(copy_name, "points", "count"), {"filter": f, "exact": True})
        theirs = await call(live, "POST", collection_path(live_name, "points", "count"), {"filter": f, "exact": True})
        if mine["count"] != theirs["count"]:
            cond = f["must"][0]
            differing.append(f"{cond['key']}={cond['match']['value']!r}: {mine['count']} vs {theirs['count']}")
    if differing:
        return Check("payload filters", False, f"{len(differing)}/{len(filters)} filters differ: "
                     + "; ".join(differing))
    return Check("payload filters", True, f"{len(filters)} sample filters give identical counts")


async def _queries_check(copy: RegionClient, copy_name: str, live: RegionClient, live_name: str,
                         points: list[dict[str, Any]]) -> Check:
    overlaps = []
    for point in points[:SAMPLE_QUERIES]:
        vector = point.get("vector")
        body: dict[str, Any] = {"limit": TOP_K, "params": {"exact": True}}
        if isinstance(vector, dict):
            name = next(iter(vector), None)
            if name is None or not isinstance(vector[name], list):
                continue
            body.update(query=vector[name], using=name)
        elif isinstance(vector, list):
            body["query"] = vector
        else:
            continue
        mine = await call(copy, "POST", collection_path(copy_name, "points", "query"), body)
        theirs = await call(live, "POST", collection_path(live_name, "points", "query"), body)
        a, b = {p["id"] for p in mine["points"]}, {p["id"] for p in theirs["points"]}
        overlaps.append(len(a & b) / max(1, len(b)))
    if not overlaps:
        return Check("query top-k overlap", True, "no dense vectors to query with")
    mean = sum(overlaps) / len(overlaps)
    return Check("query top-k overlap", mean >= MIN_OVERLAP,
                 f"mean top-{TOP_K} overlap {mean:.3f} over {len(overlaps)} sample queries "
                 f"(exact search; needs >= {MIN_OVERLAP})")


async def run_drill(parts: Parts, job: Job, collection: str, region: str, bundle: Bundle,
                    keep: bool) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    copy_name = f"{collection}-drill-{stamp}"
    client = parts.client(region)
    plan = await plan_restore(parts, collection, region, bundle, copy_name, None)
    save_plan(parts, plan)
    report: DrillReport | None = None
    try:
        await recover(parts, job, plan)
        plan.phase, plan.position = "replay", plan.start_lsn
        position = await replay_journal(parts, job, plan)
        rto = time.time() - plan.started_at
        references = parts.fresh_regions(collection)
        if not references:
            raise JobFailed(f"no region serves {collection} with every write applied: nothing to check against")
        live = next((c for c in references if c.name == region), references[0])
        await parts.replication.wait_applied([live.name], position, 30.0)
        report = DrillReport(collection, region, copy_name, bundle.manifest.id, bundle.manifest.lsn, position,
                             live.name, rto_s=round(rto, 3), rpo=_rpo(parts, bundle), kept=keep,
                             access=bundle.manifest.access, access_now=access_rules(parts.auth, collection))
        # A restore is only working with its access rules: the bundle must say who may read and write it.
        report.checks.append(Check("access rules", bool(bundle.manifest.access), describe(bundle.manifest.access)))
        job.enter("checking the copy", total=2 * (plan.expected_points or 0) or None, unit="points")
        tick = job.counter()
        # The live side may move on meanwhile: only what the copy can be expected to hold is compared.
        comparison = await compare_copies(client, copy_name, live, collection, parts.journal, position, tick)
        copy_count, live_count = await exact_count(client, copy_name), await exact_count(live, collection)
        written, by_filter = await writes_after(parts.journal, collection, position)  # after the counts
        quiet = not written and not by_filter
        report.checks.append(Check(
            "point count", copy_count == live_count or not quiet,
            f"{copy_count} restored, {live_count} live" + ("" if quiet else
                                                          f" ({len(written)} points written since the replay)")))
        report.checks.append(Check("points present", comparison.missing == 0 and comparison.extra == 0,
                                   f"{comparison.missing} missing, {comparison.extra} extra"))
        report.checks.append(Check("payloads complete", comparison.payload_differs == 0,
                                   f"{comparison.payload_differs} points with payload missing or different"
                                   + _examples(comparison.examples.get("with payload missing or different"))))
        report.checks.append(Check("vectors identical", comparison.vectors_differ == 0,
                                   f"{comparison.vectors_differ} points with different vectors"))
        samples = await _samples(live, collection)
        report.checks.append(await _filters_check(client, copy_name, live, collection, _sample_filters(samples)))
        report.checks.append(await _queries_check(client, copy_name, live, collection, samples))
    finally:
        if not keep and await exists(client, copy_name):
            await call(client, "DELETE", collection_path(copy_name))
        forget_plan(parts, plan)
    paths = _write_report(parts.data_dir / DRILLS_DIR, report, stamp)
    job.enter("done")
    return {**report.as_dict(), "report": {k: str(v) for k, v in paths.items()}}


def _examples(ids: list[Any] | None) -> str:
    return f" (e.g. {', '.join(map(str, ids))})" if ids else ""


def _write_report(directory: Path, report: DrillReport, stamp: str) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"{report.collection}-{stamp}"
    paths = {"markdown": base.with_suffix(".md"), "json": base.with_suffix(".json")}
    atomic_write(paths["markdown"], report.markdown().encode())
    atomic_write(paths["json"], orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2))
    return paths
