"""What a verify pass found: plain data that prints as JSON or as text.

Kept apart from the checking so the report's shape, which `--json` users read, changes only
on purpose, and the checking reads without the formatting in the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rgw.journal.scan import ordered_ids
from rgw.journal.truth import PointId

SHOWN = 10  # ids shown per list; counts are always whole


@dataclass
class Ids:
    """A set of point ids as reported: how many, and the first few."""

    count: int = 0
    first: list[PointId] = field(default_factory=list)

    @classmethod
    def of(cls, ids: set[PointId]) -> Ids:
        return cls(len(ids), ordered_ids(ids)[:SHOWN])

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
    resolved: list[str] | None = None  # after a repair: dead letters the clean re-check made obsolete

    @property
    def exit_code(self) -> int:
        final = self.after or self.before
        failed = any(r.error for r in self.repairs or [])
        return 1 if final.drift or failed else 0

    def as_dict(self) -> dict[str, Any]:
        return {"drift": self.exit_code != 0, "before": self.before.as_dict(),
                "repair": None if self.repairs is None else [r.as_dict() for r in self.repairs],
                "after": None if self.after is None else self.after.as_dict(), "resolved": self.resolved}


# -- as text ---------------------------------------------------------------------------------------

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
    lines += [f"dead letters: {note}" for note in outcome.resolved or []]
    return "\n".join(lines)
