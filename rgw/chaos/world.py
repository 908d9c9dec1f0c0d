"""What state every part was in at each moment of a run, and which sources could have answered a read.

The runner records every change the timeline makes. A change that takes something away (kill,
SIGSTOP, a blackhole, a drain) counts from the moment the action starts; a change that gives
something back (restart, SIGCONT, removing a fault) only from the moment it has completed (a
restarted store counts once it answers /readyz). So the model never credits a source with being
up while it might not have been: a read is held against the gateway only when a source in its
chain was able to answer for the whole time the read was in flight.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from rgw.chaos.scenario import BREAKING_FAULTS

UP, DOWN, HUNG, STARTING = "up", "down", "hung", "starting"


@dataclass
class RegionState:
    process: str = UP  # up, down (killed), hung (SIGSTOP), starting (restarted, not ready yet)
    proxy_up: bool = True
    faults: dict[str, str] = field(default_factory=dict)  # fault name -> kind, on its fault proxy
    drained: bool = False
    restoring: int | None = None  # expected points of a restore mark (or of a running restore)
    lost: bool = False  # the region lost the collection's data (wiped, dropped, emptied), not yet restored
    gone: bool = False  # ... and the action losing it has completed: an answer from it now is from lost data

    @property
    def reachable(self) -> bool:
        """Its process answers and the path to it carries answers (slow counts; cut does not)."""
        return self.process == UP and self.proxy_up and not BREAKING_FAULTS & set(self.faults.values())


@dataclass
class State:
    regions: dict[str, RegionState]
    gateway: str = UP
    forced: str | None = None  # an operator-forced source for the collection
    gateway_epoch: int = 0  # bumped by every gateway (re)start: its in-memory cache starts empty

    def region_answers(self, region: str) -> bool:
        """Could `region` answer as a region (not partial)? Drained and restoring regions are skipped."""
        r = self.regions[region]
        return r.reachable and not r.drained and r.restoring is None and not r.lost

    def partial_answers(self) -> bool:
        """A restoring region holding data could answer partially. Assumes its coverage is above min_coverage,
        which the scenario sets up (expected_factor, or a restore whose bundle holds most points); coverage
        itself is not modelled. A real restore's copy counts only once its snapshot is recovered."""
        return any(r.reachable and not r.drained and r.restoring is not None and not r.lost
                   for r in self.regions.values())


class World:
    """A history of States, each in force from its time until the next one."""

    def __init__(self, regions: tuple[str, ...]) -> None:
        self._times: list[float] = [float("-inf")]
        self._states: list[State] = [State({r: RegionState() for r in regions})]

    @property
    def now(self) -> State:
        return self._states[-1]

    def change(self, at: float, mutate: Callable[[State], None]) -> None:
        """From `at` on, the state is the current one changed by `mutate`."""
        at = max(at, self._times[-1])  # actions run one after another, so time only moves forward
        state = copy.deepcopy(self._states[-1])
        mutate(state)
        self._times.append(at)
        self._states.append(state)

    def at(self, t: float) -> State:
        return self._states[bisect.bisect_right(self._times, t) - 1]

    def during(self, start: float, end: float) -> list[State]:
        """Every state in force at some moment of [start, end]."""
        first = bisect.bisect_right(self._times, start) - 1
        last = bisect.bisect_right(self._times, end) - 1
        return self._states[first:last + 1]
