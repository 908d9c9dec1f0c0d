"""The figures a run is judged by, computed from what was recorded: phases, excuses, failover, recovery.

- A failed read is excused only when no source in its collection's chain could have answered for
  the whole time it was in flight (rgw.chaos.world), or when the gateway itself was not up.
- Failover time: from an outage of the preferred region to the first answer from another source.
- Recovery time: from the action that gives something back to the moment the region has applied
  everything journaled before it (from status samples) and, for the preferred region, reads are
  answered by it again (18 of the next 20).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

from rgw.chaos.actions import Event
from rgw.chaos.load import Read, Write
from rgw.chaos.observe import StatusSample
from rgw.chaos.scenario import BASELINE, BREAKING_FAULTS, GATEWAY, Scenario
from rgw.chaos.world import UP, World

# Actions that take the preferred region away (or slow it: a latency fault is a reason to hedge).
OUTAGES = frozenset({"kill", "stop", "proxy-down", "drain", "restore-mark", "wipe", "drop", "empty"})
OUTAGE_FAULTS = BREAKING_FAULTS | {"latency", "bandwidth"}
# A restore or rebuild gives the region back when its job ends: its recovery time includes the job.
RECOVERIES = frozenset({"restart", "cont", "proxy-up", "unfault", "undrain", "restore-clear", "restore", "rebuild"})
BACK_WINDOW = 20  # reads looked at to decide traffic is back on the preferred region
BACK_SHARE = 0.9


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# -- phases --------------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    intervals: list[tuple[float, float]] = field(default_factory=list)  # a phase may recur (flapping)
    reads: int = 0
    ok: int = 0
    failed: int = 0
    excused: int = 0
    unexcused: int = 0
    writes: int = 0
    acked: int = 0
    modes: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    p50_ms: float | None = None
    p99_ms: float | None = None
    min_coverage: float | None = None  # the least complete answer served in the phase
    max_staleness_s: float | None = None  # the stalest answer served in the phase


def phase_starts(events: list[Event]) -> list[tuple[float, str]]:
    starts = [(float("-inf"), BASELINE)]
    for event in events:
        if event.phase and event.due is not None:
            starts.append((event.started, event.phase))
    return starts


def phase_of(starts: list[tuple[float, str]], t: float) -> str:
    return starts[bisect.bisect_right([s for s, _ in starts], t) - 1][1]


# -- excuses -------------------------------------------------------------------------------------

class CacheModel:
    """Which queries the gateway's result cache held: those a region answered earlier, in this gateway's life."""

    def __init__(self, reads: list[Read], world: World) -> None:
        self._world = world
        self._answered: dict[tuple[int, str], list[float]] = {}
        for read in sorted(reads, key=lambda r: r.end):
            if read.ok and read.mode in ("normal", "failover"):
                self._answered.setdefault(read.cache_key, []).append(read.end)

    def holds(self, read: Read, window_s: float) -> bool:
        ends = self._answered.get(read.cache_key, [])
        i = bisect.bisect_left(ends, read.start) - 1  # the latest answer that finished before this read began
        if i < 0 or read.start - ends[i] > window_s:
            return False
        return self._world.at(ends[i]).gateway_epoch == self._world.at(read.start).gateway_epoch


def excuse(read: Read, world: World, scenario: Scenario, cache: CacheModel) -> tuple[str | None, list[str]]:
    """(why no source could answer, or None; the sources that could have) for one read."""
    states = world.during(read.start, read.end)
    if any(s.gateway != UP for s in states):
        return f"gateway {next(s.gateway for s in states if s.gateway != UP)}", []
    forced = states[0].forced
    chain = (forced,) if forced else scenario.chain
    policy = scenario.policy
    able = []
    for source in chain:
        if source == "partial":
            could = all(s.partial_answers() for s in states)
        elif source == "cache":
            could = cache.holds(read, policy.cache_ttl_s + policy.stale_if_error_s)
        elif source == "lexical":
            could = read.text
        else:
            could = all(s.region_answers(source) for s in states)
        if could:
            able.append(source)
    if able:
        return None, able
    return "no source in the chain could answer: " + ", ".join(chain), []


# -- failover and recovery -------------------------------------------------------------------------

@dataclass
class Timing:
    event: str
    at: float
    seconds: float | None  # None: it never happened while it was measured
    detail: str = ""
    interrupted: bool = False  # the next fault came first: not a measurement of recovery


def failovers(events: list[Event], reads: list[Read], scenario: Scenario, end: float) -> list[Timing]:
    preferred = scenario.preferred
    ok = sorted((r for r in reads if r.ok), key=lambda r: r.end)
    out = []
    timeline = [e for e in events if e.due is not None]
    for i, event in enumerate(timeline):
        if event.target != preferred or not (event.action in OUTAGES or event.fault_kind in OUTAGE_FAULTS):
            continue
        until = next((e.started for e in timeline[i + 1:] if e.target == preferred and e.action in RECOVERIES), end)
        first = next((r for r in ok if event.started <= r.end <= until and r.source != preferred), None)
        if first is None:
            out.append(Timing(event.label, event.started, None, "no answer from another source before it ended"))
        else:
            out.append(Timing(event.label, event.started, first.end - event.started,
                              f"first answer from {first.source} ({first.mode})"))
    return out


def recoveries(events: list[Event], reads: list[Read], samples: list[StatusSample], scenario: Scenario) -> list[Timing]:
    preferred = scenario.preferred
    ok = sorted((r for r in reads if r.ok), key=lambda r: r.start)
    out = []
    for i, event in enumerate(events):
        if event.action not in RECOVERIES or not event.ok or event.target not in (*scenario.topology.regions,
                                                                                    GATEWAY):
            continue
        # The next fault to the same target ends the measurement (a flapping region may not get time).
        until = next((e.started for e in events[i + 1:] if e.target == event.target and e.action in OUTAGES),
                     float("inf"))
        before = [s for s in samples if s.t <= event.started]
        head = before[-1].head if before else 0
        regions = list(scenario.topology.regions) if event.target == GATEWAY else [event.target]
        caught = next((s.t for s in samples if event.done <= s.t < until and all(s.applied[r] >= head
                                                                                for r in regions)), None)
        traffic = _traffic_back([r for r in ok if r.end < until], event, preferred)
        label = event.label
        if caught is None or traffic is None:
            why = "regions never applied the journal as of the action" if caught is None else \
                "reads never came back to the preferred region"
            if until < float("inf"):
                out.append(Timing(label, event.started, None, f"interrupted after {until - event.started:.2f}s "
                                                              f"by the next fault ({why})", interrupted=True))
            else:
                out.append(Timing(label, event.started, None, why))
            continue
        out.append(Timing(label, event.started, max(caught, traffic) - event.started,
                          f"caught up (lsn {head}) after {caught - event.started:.2f}s, "
                          f"reads back after {traffic - event.started:.2f}s"))
    return out


def _traffic_back(ok: list[Read], event: Event, preferred: str) -> float | None:
    after = [r for r in ok if r.start >= event.done]
    if event.target == GATEWAY:
        return after[0].end if after else None
    if event.target != preferred:
        return event.done
    for i in range(len(after) - BACK_WINDOW + 1):
        window = after[i:i + BACK_WINDOW]
        if after[i].source == preferred and sum(r.source == preferred for r in window) >= BACK_SHARE * BACK_WINDOW:
            return after[i].end
    return None


# -- everything per phase --------------------------------------------------------------------------

@dataclass
class Measured:
    phases: list[Phase]
    failed: list[tuple[Read, str | None, list[str]]]  # each failed read, its excuse, who could have answered
    unlabelled: int  # successful reads without provenance headers
    failovers: list[Timing]
    recoveries: list[Timing]
    short: list[Read] = field(default_factory=list)  # full answers with fewer hits than asked (Read.short)
    from_lost: list[Read] = field(default_factory=list)  # full answers from a region that had lost its data


def measure(scenario: Scenario, reads: list[Read], writes: list[Write], events: list[Event], world: World,
            samples: list[StatusSample], load_end: float) -> Measured:
    starts = phase_starts(events)
    bounds = [s for s, _ in starts[1:]] + [load_end]
    phases: dict[str, Phase] = {}
    for (start, name), end in zip(starts, bounds, strict=True):
        phases.setdefault(name, Phase(name)).intervals.append((max(0.0, start), end))
    cache = CacheModel(reads, world)
    failed = []
    latencies: dict[str, list[float]] = {}
    unlabelled = 0
    for read in sorted(reads, key=lambda r: r.start):
        phase = phases[phase_of(starts, read.start)]
        phase.reads += 1
        if read.ok:
            phase.ok += 1
            phase.modes[read.mode or "unlabelled"] += 1
            phase.sources[read.source or "unlabelled"] += 1
            latencies.setdefault(phase.name, []).append((read.end - read.start) * 1000)
            unlabelled += not (read.mode and read.source)
            if read.coverage is not None:
                phase.min_coverage = min(read.coverage, phase.min_coverage if phase.min_coverage is not None else 1.0)
            if read.staleness_s is not None:
                phase.max_staleness_s = max(read.staleness_s, phase.max_staleness_s or 0.0)
            continue
        phase.failed += 1
        why, able = excuse(read, world, scenario, cache)
        if why is None:
            phase.unexcused += 1
        else:
            phase.excused += 1
        failed.append((read, why, able))
    for write in writes:
        phase = phases[phase_of(starts, write.start)]
        phase.writes += 1
        phase.acked += write.acked
    for name, values in latencies.items():
        phases[name].p50_ms, phases[name].p99_ms = percentile(values, 0.5), percentile(values, 0.99)
    return Measured(list(phases.values()), failed, unlabelled, failovers(events, reads, scenario, load_end),
                    recoveries(events, reads, samples, scenario), [r for r in reads if r.short],
                    [r for r in reads if _from_lost(r, world)])


def _from_lost(read: Read, world: World) -> bool:
    """A full answer (normal or failover) given by a region that had lost the collection's data
    (wiped, dropped or emptied: the action completed; not yet restored) for the whole time the
    read was in flight."""
    if not read.ok or read.mode not in ("normal", "failover"):
        return False
    states = world.during(read.start, read.end)
    return all(read.source in s.regions and s.regions[read.source].gone for s in states)
