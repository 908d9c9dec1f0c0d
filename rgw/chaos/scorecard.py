"""The scorecard of a run: one JSON document for machines, the same figures as Markdown for people."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rgw.chaos.actions import Event
from rgw.chaos.datacheck import LossReport, VerifyResult
from rgw.chaos.invariants import Check, worst
from rgw.chaos.load import Recorder
from rgw.chaos.measures import Measured, percentile
from rgw.chaos.observe import StatusSample
from rgw.chaos.scenario import Scenario

FAILED_SHOWN = 15  # failed reads listed, the unexcused ones first


@dataclass
class RunResult:
    scenario: Scenario
    short: bool
    started_at: str  # wall clock, ISO 8601
    wall_s: float
    recorder: Recorder
    events: list[Event]
    samples: list[StatusSample]
    measured: Measured
    loss: LossReport | None
    verify: VerifyResult | None
    convergence_s: float | None
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def scorecard(run: RunResult) -> dict[str, Any]:
    rec, m, s = run.recorder, run.measured, run.scenario
    reads_ok = [r for r in rec.reads if r.ok]
    latencies = [(r.end - r.start) * 1000 for r in reads_ok]
    unexcused = sum(1 for _, why, _ in m.failed if why is None)
    return {
        "scenario": s.name,
        "description": s.description,
        "short": run.short,
        "passed": run.passed,
        "started_at": run.started_at,
        "wall_s": _r(run.wall_s, 1),
        "topology": {"regions": list(s.topology.regions), "fault_proxies": list(s.topology.fault_proxies),
                     "chain": list(s.chain), "preferred": s.preferred},
        "load": dataclasses.asdict(s.load),
        "requests": {
            "reads": len(rec.reads), "reads_ok": len(reads_ok), "reads_failed": len(m.failed),
            "failed_excused": len(m.failed) - unexcused, "failed_unexcused": unexcused,
            "full_answers_short": len(m.short), "full_answers_from_lost_data": len(m.from_lost),
            "reads_shed": rec.shed_reads, "read_p50_ms": _r(percentile(latencies, 0.5), 1),
            "read_p99_ms": _r(percentile(latencies, 0.99), 1),
            "writes": len(rec.writes), "writes_acked": sum(w.acked for w in rec.writes),
            "writes_failed": sum(not w.acked for w in rec.writes), "writes_shed": rec.shed_writes,
            "acked_points": rec.acked_points(),
        },
        "acked_writes_lost": None if run.loss is None else run.loss.lost,
        "failover_s": _r(worst(m.failovers)),
        "recovery_s": _r(worst(m.recoveries)),
        "convergence_s": _r(run.convergence_s),
        "failovers": [dataclasses.asdict(t) | {"at": _r(t.at), "seconds": _r(t.seconds)} for t in m.failovers],
        "recoveries": [dataclasses.asdict(t) | {"at": _r(t.at), "seconds": _r(t.seconds)} for t in m.recoveries],
        "phases": [{"name": p.name, "intervals": [[_r(a, 2), _r(b, 2)] for a, b in p.intervals], "reads": p.reads,
                    "ok": p.ok, "failed": p.failed, "excused": p.excused, "unexcused": p.unexcused,
                    "modes": dict(p.modes), "sources": dict(p.sources), "p50_ms": _r(p.p50_ms, 1),
                    "p99_ms": _r(p.p99_ms, 1), "min_coverage": _r(p.min_coverage, 4),
                    "max_staleness_s": _r(p.max_staleness_s), "writes": p.writes, "acked": p.acked}
                   for p in m.phases],
        "events": [dataclasses.asdict(e) | {"due": _r(e.due), "started": _r(e.started), "done": _r(e.done)}
                   for e in run.events],
        "data": None if run.loss is None else run.loss.as_dict(),
        "verify": None if run.verify is None else run.verify.as_dict(),
        "failed_reads": [{"start": _r(r.start), "seconds": _r(r.end - r.start), "via": r.via, "text": r.text,
                          "error": r.error, "excused": why, "could_answer": able}
                         for r, why, able in sorted(m.failed, key=lambda f: f[1] is not None)[:FAILED_SHOWN]],
        "checks": [c.as_dict() for c in run.checks],
    }


def _cell(value: Any) -> str:
    return "-" if value is None else str(value).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows), ""]


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def markdown(card: dict[str, Any], png: str | None = None) -> str:
    req = card["requests"]
    verdict = "PASSED" if card["passed"] else "FAILED"
    lines = [f"# Chaos scorecard: {card['scenario']}{' (short)' if card['short'] else ''} - {verdict}", "",
             card["description"], "",
             f"Run at {card['started_at']}, {card['wall_s']} s wall clock; regions "
             f"{', '.join(card['topology']['regions'])}, chain {' -> '.join(card['topology']['chain'])}"
             + (f", fault proxies in front of {', '.join(card['topology']['fault_proxies'])}"
                if card["topology"]["fault_proxies"] else "") + ".", ""]
    lines += _table(["figure", "value"], [
        ["reads (ok / failed / shed)", f"{req['reads']} ({req['reads_ok']} / {req['reads_failed']} / "
                                       f"{req['reads_shed']})"],
        ["failed reads excused / unexcused", f"{req['failed_excused']} / {req['failed_unexcused']}"],
        ["full answers short of hits / from lost data", f"{req['full_answers_short']} / "
                                                         f"{req['full_answers_from_lost_data']}"],
        ["read latency p50 / p99", f"{req['read_p50_ms']} ms / {req['read_p99_ms']} ms"],
        ["writes (acknowledged / failed / shed)", f"{req['writes']} ({req['writes_acked']} / "
                                                  f"{req['writes_failed']} / {req['writes_shed']})"],
        ["acknowledged points", req["acked_points"]],
        ["acknowledged writes lost", card["acked_writes_lost"]],
        ["time to failover (worst)", _secs(card["failover_s"])],
        ["time to recover (worst)", _secs(card["recovery_s"])],
        ["convergence after the load", _secs(card["convergence_s"])],
    ])
    lines += ["## Expectations", ""]
    lines += _table(["check", "expected", "measured", "result"],
                    [[c["name"], c["expected"], c["measured"], "pass" if c["passed"] else "**FAIL**"]
                     for c in card["checks"]])
    lines += ["## Phases", ""]
    lines += _table(["phase", "time (s)", "reads", "failed (excused)", "modes served", "p50 / p99 ms",
                     "min coverage", "max staleness s", "writes acked"],
                    [[p["name"], ", ".join(f"{a:g}-{b:g}" for a, b in p["intervals"]), p["reads"],
                      f"{p['failed']} ({p['excused']})", ", ".join(f"{k}={v}" for k, v in sorted(p["modes"].items())),
                      f"{p['p50_ms']} / {p['p99_ms']}", p["min_coverage"], p["max_staleness_s"],
                      f"{p['acked']}/{p['writes']}"] for p in card["phases"]])
    lines += ["## Timeline", ""]
    lines += _table(["due (s)", "started (s)", "took (s)", "action", "result"],
                    [[e["due"], e["started"], f"{e['done'] - e['started']:.2f}", e["label"],
                      "ok" if e["ok"] else f"FAILED: {e['error']}"] for e in card["events"]])
    for title, timings in (("Failover", card["failovers"]), ("Recovery", card["recoveries"])):
        if timings:
            lines += [f"## {title}", ""]
            lines += _table(["after", "at (s)", "seconds", "detail"],
                            [[t["event"], t["at"], t["seconds"] if t["seconds"] is not None else
                              ("interrupted" if t["interrupted"] else "never"), t["detail"]] for t in timings])
    if card["data"]:
        lines += ["## Acknowledged points, read from each store directly", ""]
        lines += _table(["region", "points held", "acked missing", "acked differing", "error"],
                        [[r["region"], r["points"], r["missing"], r["differing"], r["error"]]
                         for r in card["data"]["regions"]])
    if card["verify"]:
        v = card["verify"]
        lines += [f"`rgw verify`: exit {v['exit_code']}, drift: {v['drift']}"
                  + (f", error: {v['error']}" if v["error"] else ""), ""]
        regions = {k: val for k, val in v["summary"].items() if isinstance(val, dict)}
        if regions:
            lines += _table(["region", "points", "missing", "extra", "differing"],
                            [[k, r["points"], r["missing"], r["extra"], r["differing"]] for k, r in regions.items()])
    if card["failed_reads"]:
        lines += ["## Failed reads (first few)", ""]
        lines += _table(["start (s)", "took (s)", "via", "text", "error", "excused because"],
                        [[f["start"], f["seconds"], f["via"], f["text"], (f["error"] or "")[:120],
                          f["excused"] or f"NOT EXCUSED: {', '.join(f['could_answer'])} could answer"]
                         for f in card["failed_reads"]])
    if png:
        lines += [f"![timeline]({png})", ""]
    return "\n".join(lines)
