"""Each of the gateway's promises, and each of the scenario's expectations, as a pass/fail check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rgw.chaos.actions import Event
from rgw.chaos.datacheck import LossReport, VerifyResult
from rgw.chaos.measures import Measured, Timing
from rgw.chaos.scenario import Scenario


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    measured: str
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}s"


def worst(timings: list[Timing]) -> float | None:
    """The longest time, or None (never happened) if any one of them never happened.

    A recovery the next fault interrupted is not one that failed to happen: it is left out."""
    timings = [t for t in timings if not t.interrupted]
    if not timings or any(t.seconds is None for t in timings):
        return None
    return max(t.seconds for t in timings if t.seconds is not None)


def evaluate(scenario: Scenario, measured: Measured, events: list[Event], loss: LossReport | None,
             verify: VerifyResult | None, convergence_s: float | None) -> list[Check]:
    expect = scenario.expect
    checks = []
    broken = [e for e in events if not e.ok]
    checks.append(Check("every timeline step applied", "all", f"{len(events) - len(broken)} of {len(events)}"
                        + "".join(f"; {e.label}: {e.error}" for e in broken), not broken))

    failed = len(measured.failed)
    unexcused = sum(1 for _, why, _ in measured.failed if why is None)
    if expect.max_failed_reads is not None:
        checks.append(Check("failed reads", f"<= {expect.max_failed_reads}", str(failed),
                            failed <= expect.max_failed_reads))
    checks.append(Check("no read failed while an allowed source could answer",
                        f"<= {expect.max_unexcused_failed_reads}", str(unexcused),
                        unexcused <= expect.max_unexcused_failed_reads))
    checks.append(Check("every answer labelled with source and mode", "0 unlabelled", str(measured.unlabelled),
                        measured.unlabelled == 0))
    short = measured.short
    checks.append(Check("full answers short of hits (normal/failover, unfiltered, fewer than asked)",
                        f"<= {expect.max_short_answers}",
                        str(len(short)) + "".join(f"; at {r.start:.1f}s from {r.source} ({r.mode}): {r.hits} hits"
                                                  for r in short[:3]), len(short) <= expect.max_short_answers))
    lost = measured.from_lost
    checks.append(Check("full answers from a region that had lost its data", f"<= {expect.max_answers_from_lost_data}",
                        str(len(lost)) + (f" (the last at {max(r.end for r in lost):.2f}s)" if lost else ""),
                        len(lost) <= expect.max_answers_from_lost_data))

    lost = None if loss is None else loss.lost
    checks.append(Check("acknowledged writes lost", f"<= {expect.acked_writes_lost}",
                        "not checked (did not converge)" if lost is None else f"{lost} of {loss.acked}",
                        lost is not None and lost <= expect.acked_writes_lost))
    if expect.verify:
        clean = verify is not None and verify.exit_code == 0
        checks.append(Check("rgw verify: regions identical to the journal", "exit 0",
                            "not run" if verify is None else f"exit {verify.exit_code}"
                            + (f" ({verify.error})" if verify.error else ""), clean))
    checks.append(Check("convergence", f"<= {expect.max_convergence_s:g}s", _seconds(convergence_s),
                        convergence_s is not None and convergence_s <= expect.max_convergence_s))

    for phase in measured.phases:
        allowed = expect.modes[phase.name]
        seen = sorted(phase.modes)
        unexpected = [m for m in seen if m not in allowed]
        checks.append(Check(f"modes in phase '{phase.name}'", "within " + ", ".join(allowed),
                            ", ".join(f"{m}={phase.modes[m]}" for m in seen) or "no answers", not unexpected))
        required = expect.modes_seen.get(phase.name, ())
        if required:
            absent = [m for m in required if not phase.modes.get(m)]
            checks.append(Check(f"modes answering in phase '{phase.name}'", "at least one " + ", ".join(required),
                                "none: " + ", ".join(absent) if absent else
                                ", ".join(f"{m}={phase.modes[m]}" for m in required), not absent))
        bound = expect.max_p99_ms.get(phase.name)
        if bound is not None:
            p99 = phase.p99_ms
            checks.append(Check(f"read p99 in phase '{phase.name}'", f"<= {bound:g} ms",
                                "no answers" if p99 is None else f"{p99:.0f} ms", p99 is not None and p99 <= bound))

    if expect.max_failover_s is not None:
        longest = worst(measured.failovers)
        checks.append(Check("time to failover", f"<= {expect.max_failover_s:g}s",
                            _seconds(longest) if measured.failovers else "no outage of the preferred region",
                            longest is not None and longest <= expect.max_failover_s))
    if expect.max_recovery_s is not None:
        longest = worst(measured.recoveries)
        checks.append(Check("time to recover", f"<= {expect.max_recovery_s:g}s",
                            _seconds(longest) if measured.recoveries else "nothing to recover from",
                            longest is not None and longest <= expect.max_recovery_s))
    return checks
