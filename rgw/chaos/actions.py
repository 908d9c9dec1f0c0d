"""Carrying out a scenario's timeline: signals to the processes we started, fault proxy and admin calls.

Each step becomes an Event with when it was due, when it started and when it completed, and each
changes the World (what could answer) at the moment the module docstring of rgw.chaos.world gives.
Blocking work (reaping a killed process, spawning one) runs in a thread so the load never pauses.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from rgw.chaos.deploy import Deployment
from rgw.chaos.faults import fault_to_dict
from rgw.chaos.load import Clock
from rgw.chaos.scenario import BREAKING_FAULTS, DATA_ACTIONS, GATEWAY, Scenario, Step
from rgw.chaos.world import DOWN, HUNG, STARTING, UP, State, World
from rgw.procs import Managed

READY_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 10.0
JOB_TIMEOUT_S = 300.0  # a backup, restore or rebuild the run waits for
JOB_POLL_S = 0.1
# Phases of a restore before its copy holds data (the snapshot is not recovered yet).
EMPTY_PHASES = frozenset({"starting", "dropping the old copy", "uploading the snapshot"})


@dataclass
class Event:
    label: str  # e.g. "kill primary"
    action: str
    target: str
    due: float | None  # when the timeline wanted it (None: a heal after the load)
    started: float
    done: float
    phase: str | None = None
    fault_kind: str | None = None  # action "fault": which fault
    ok: bool = True
    error: str | None = None


class ActionFailed(Exception):
    pass


class Executor:
    def __init__(self, deployment: Deployment, scenario: Scenario, world: World, clock: Clock,
                 acked_points: Callable[[], int]) -> None:
        self._dep = deployment
        self._scenario = scenario
        self._world = world
        self._clock = clock
        self._acked_points = acked_points  # points acknowledged so far, for restore marks
        self.events: list[Event] = []  # in the order they ended; heal() leaves them in the order they started
        self._session: aiohttp.ClientSession | None = None
        self._running: list[asyncio.Task[None]] = []  # restores and rebuilds still going
        self.bundles = 0  # backups this run took

    async def __aenter__(self) -> Executor:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def run_timeline(self) -> None:
        """Each step at its time, one after another (a step still running delays the next, and says so)."""
        for step in self._scenario.steps:
            await self._clock.sleep_until(step.at_s)
            await self.apply(step)

    async def apply(self, step: Step, heal: bool = False) -> Event:
        """Carry out `step`. A restore or rebuild goes on in the background (its Event ends with the job)
        unless healing, when the run waits for it."""
        label = f"heal: {step.describe()}" if heal else step.describe()
        event = Event(label, step.action, step.target, None if heal else step.at_s, self._clock.now(), 0.0,
                      step.phase, step.fault.kind if step.fault else None)
        follow = await self._attempt(event, self._do(step))
        if follow is None:
            self._end(event)
        elif heal:
            await self._finish(event, follow)
        else:
            self._running.append(asyncio.create_task(self._finish(event, follow)))
        return event

    async def _attempt(self, event: Event, action: Awaitable[Any]) -> Any:
        """What `action` returns; None, with the event marked failed, if it failed."""
        try:
            return await action
        except (ActionFailed, aiohttp.ClientError, TimeoutError, OSError, RuntimeError) as exc:
            event.ok, event.error = False, f"{type(exc).__name__}: {exc}"
            return None

    async def _finish(self, event: Event, follow: Awaitable[None]) -> None:
        await self._attempt(event, follow)
        self._end(event)

    def _end(self, event: Event) -> None:
        event.done = self._clock.now()
        self.events.append(event)

    # -- what each action does ---------------------------------------------------------------------

    async def _do(self, step: Step) -> Awaitable[None] | None:
        """Apply `step`; for a job that goes on in the background, what follows it to its end."""
        action, target = step.action, step.target
        if action in DATA_ACTIONS:
            return await self._data(step)
        if action == "kill":
            self._set(target, DOWN)
            await asyncio.to_thread(self._dep.process(target).kill)
        elif action == "stop":
            self._set(target, HUNG)
            self._dep.process(target).signal(signal.SIGSTOP)
        elif action == "cont":
            self._dep.process(target).signal(signal.SIGCONT)
            self._set(target, UP)
        elif action == "restart":
            await self._restart(target)
        elif action in ("fault", "unfault", "proxy-down", "proxy-up"):
            await self._proxy(step)
        else:
            await self._admin(step)
        return None

    def _set(self, target: str, process: str) -> None:
        def mutate(state: State) -> None:
            if target == GATEWAY:
                if process == UP and state.gateway == STARTING:
                    state.gateway_epoch += 1  # a new gateway process: an empty cache
                state.gateway = process
            else:
                state.regions[target].process = process

        self._world.change(self._clock.now(), mutate)

    async def _restart(self, target: str) -> None:
        managed = self._dep.process(target)
        if managed.alive():
            self._set(target, DOWN)
            await asyncio.to_thread(managed.kill)  # restart means crash-restart: a clean stop hides bugs
        self._set(target, STARTING)
        await asyncio.to_thread(managed.start, 0)
        await self._wait_ready(managed)
        self._set(target, UP)

    async def _wait_ready(self, managed: Managed) -> None:
        assert self._session is not None
        deadline = self._clock.now() + READY_TIMEOUT_S
        while self._clock.now() < deadline:
            if not managed.alive():
                raise ActionFailed(f"{managed.name} exited while starting; log: {managed.log_tail(5)}")
            try:
                async with self._session.get(managed.ready_url, timeout=aiohttp.ClientTimeout(total=0.5)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
        raise ActionFailed(f"{managed.name} not ready within {READY_TIMEOUT_S:.0f}s")

    async def _call(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        assert self._session is not None
        data = None if body is None else orjson.dumps(body)
        async with self._session.request(method, url, data=data, headers={
                "Content-Type": "application/json", **(headers or {})}) as resp:
            raw = await resp.read()
            if resp.status >= 300:
                raise ActionFailed(f"{method} {url} answered {resp.status}: {raw[:300].decode(errors='replace')}")
            return orjson.loads(raw) if raw else None

    async def _proxy(self, step: Step) -> None:
        base = f"{self._dep.control_url}/proxies/{quote(step.target, safe='')}"
        region = step.target
        if step.action == "fault":
            assert step.fault is not None
            fault = step.fault
            if fault.kind in BREAKING_FAULTS:  # takes the region away: counts from the start
                self._world.change(self._clock.now(), lambda s: s.regions[region].faults.__setitem__(
                    fault.name, fault.kind))
            await self._call("POST", f"{base}/faults", fault_to_dict(fault))
            self._world.change(self._clock.now(), lambda s: s.regions[region].faults.__setitem__(
                fault.name, fault.kind))
        elif step.action == "unfault":
            name = step.fault_name or ""
            await self._call("DELETE", f"{base}/faults/{quote(name, safe='')}")
            self._world.change(self._clock.now(), lambda s: s.regions[region].faults.pop(name, None))
        elif step.action == "proxy-down":
            self._region(region, proxy_up=False)
            await self._call("POST", f"{base}/down")
        else:
            await self._call("POST", f"{base}/up")
            self._region(region, proxy_up=True)

    # -- data faults and the jobs that repair them ----------------------------------------------------

    def _region(self, region: str, **changes: object) -> None:
        def mutate(state: State) -> None:
            for key, value in changes.items():
                setattr(state.regions[region], key, value)

        self._world.change(self._clock.now(), mutate)

    async def _data(self, step: Step) -> Awaitable[None] | None:
        region, collection = step.target, self._scenario.load.collection
        if step.action == "wipe":  # the region's disk is lost: the store comes back empty
            self._region(region, lost=True)
            managed = self._dep.process(region)
            self._set(region, DOWN)
            await asyncio.to_thread(managed.kill)
            await asyncio.to_thread(shutil.rmtree, self._dep.data_dir(region), True)
            self._set(region, STARTING)
            await asyncio.to_thread(managed.start, 0)
            await self._wait_ready(managed)
            self._set(region, UP)
            self._region(region, gone=True)
            return None
        store = f"{self._dep.store_urls[region]}/collections/{quote(collection, safe='')}"
        if step.action == "drop":  # behind the gateway's back, straight to the store
            self._region(region, lost=True)
            await self._call("DELETE", store)
            self._region(region, gone=True)
            return None
        if step.action == "empty":  # every point deleted, the collection left in place
            self._region(region, lost=True)
            await self._call("POST", f"{store}/points/delete?wait=true", {"filter": {}})
            self._region(region, gone=True)
            return None
        rate = {} if step.max_rate is None else {"max_rate": step.max_rate}
        if step.action == "backup":
            job = await self._admin_call("POST", "backups", {"collection": collection, "region": region})
            await self._follow(job)
            self.bundles += 1
            return None
        jobs = "restores" if step.action == "restore" else "rebuilds"
        job = await self._admin_call("POST", jobs, {"collection": collection, "to": region, **rate})
        # Normal answers stop at once (the job holds and marks the collection); partial ones become
        # possible once the copy holds data, and normal ones again when the job has ended.
        self._region(region, restoring=int(self._acked_points()))
        return self._follow(job, region)

    async def _follow(self, job: dict[str, Any], region: str | None = None) -> None:
        """Poll the job until it ends; ActionFailed unless it ended done. With `region`, the world follows."""
        deadline = self._clock.now() + JOB_TIMEOUT_S
        holds_data = False
        while True:
            if job["state"] != "running":
                break
            if region is not None and not holds_data and job["phase"] not in EMPTY_PHASES:
                holds_data = True
                self._region(region, lost=False, gone=False)
            if self._clock.now() > deadline:
                raise ActionFailed(f"job {job['id']} still {job['phase']!r} after {JOB_TIMEOUT_S:.0f}s")
            await asyncio.sleep(JOB_POLL_S)
            job = await self._admin_call("GET", f"jobs/{quote(job['id'], safe='')}")
        if job["state"] != "done":
            raise ActionFailed(f"job {job['id']} {job['state']}: {job.get('error')}")
        if region is not None:
            self._region(region, lost=False, gone=False, restoring=None)

    async def _admin_call(self, method: str, path: str, body: Any = None) -> Any:
        auth = {"Authorization": f"Bearer {self._dep.admin_token}"}
        reply = await self._call(method, f"{self._dep.gateway_url}/gateway/admin/{path}", body, auth)
        return reply["result"]

    async def _admin(self, step: Step) -> None:
        collection = quote(self._scenario.load.collection, safe="")
        region = step.target
        if step.action in ("drain", "undrain"):
            drained = step.action == "drain"
            if drained:  # taking a region away counts from the start, giving it back once done
                self._region(region, drained=True)
            await self._admin_call("POST", f"regions/{quote(region, safe='')}/{step.action}", {})
            self._region(region, drained=drained)
        elif step.action == "restore-mark":
            expected = step.expected or int(self._acked_points() * (step.expected_factor or 1.0))
            self._region(region, restoring=expected)
            await self._admin_call("POST", f"collections/{collection}/restore-mark",
                                   {"region": region, "expected": expected})
        elif step.action == "restore-clear":
            await self._admin_call("POST", f"collections/{collection}/restore-mark", {"region": region, "clear": True})
            self._region(region, restoring=None)
        elif step.action == "mode":
            source = step.source or "auto"
            await self._admin_call("POST", f"collections/{collection}/mode", {"source": source})
            self._world.change(self._clock.now(), lambda s: setattr(s, "forced", None if source == "auto"
                                                                    else source))
        else:
            raise ActionFailed(f"unknown action {step.action!r}")

    # -- putting everything back after the load ----------------------------------------------------

    async def heal(self) -> list[Event]:
        """Let running jobs end, then undo whatever the timeline left broken, so convergence can be
        checked; each undo is an Event. Afterwards the events are in the order they started."""
        await asyncio.gather(*self._running)
        healed = await self._heal()
        self.events.sort(key=lambda e: e.started)
        return healed

    async def _heal(self) -> list[Event]:
        state = self._world.now
        steps: list[Step] = []
        for target, process in [(GATEWAY, state.gateway), *((r, s.process) for r, s in state.regions.items())]:
            if process == HUNG:
                steps.append(Step(0.0, "cont", target))
            elif process in (DOWN, STARTING):
                steps.append(Step(0.0, "restart", target))
        for region, r in state.regions.items():
            steps += [Step(0.0, "unfault", region, fault_name=name) for name in r.faults]
            if not r.proxy_up:
                steps.append(Step(0.0, "proxy-up", region))
            if r.drained:
                steps.append(Step(0.0, "undrain", region))
            if r.lost:  # from the run's own backup if it took one, else from the journal
                steps.append(Step(0.0, "restore" if self.bundles else "rebuild", region))
            elif r.restoring is not None:
                steps.append(Step(0.0, "restore-clear", region))
        if state.forced is not None:
            steps.append(Step(0.0, "mode", self._scenario.load.collection, source="auto"))
        # The gateway first: the admin calls need it.
        return [await self.apply(step, heal=True) for step in steps]
