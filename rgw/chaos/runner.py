"""One chaos run from start to scorecard.

Start the scenario's processes on loopback, preload, then at once drive the load and apply the
fault timeline, with the gateway's status sampled throughout. After the load, undo whatever the
timeline left broken, wait (bounded) for every region and the lexical index to reach the
journal head, read every acknowledged point back from each store, run `rgw verify`, and judge.
Every process is started here and stopped here, by the PIDs started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

import orjson

from rgw.chaos.actions import Executor
from rgw.chaos.attach import AttachError, Target, admin, attach, drop_collection, policy_fields
from rgw.chaos.datacheck import check_acked, run_verify
from rgw.chaos.deploy import Deployment, deploy
from rgw.chaos.invariants import evaluate
from rgw.chaos.load import Clock, LoadGenerator, Recorder, preload
from rgw.chaos.measures import measure
from rgw.chaos.observe import StatusPoller
from rgw.chaos.progress import LiveProgress
from rgw.chaos.scenario import Scenario
from rgw.chaos.scorecard import RunResult, markdown, scorecard
from rgw.chaos.timeline import plot
from rgw.chaos.workload import Workload
from rgw.chaos.world import World

VERIFY_WAIT_S = 30.0


def convergence_budget(scenario: Scenario) -> float:
    """How long to wait for convergence: past the expectation, so a miss is still measured, but bounded."""
    return scenario.expect.max_convergence_s * 1.5 + 5.0


async def run_scenario(scenario: Scenario, workdir: Path, short: bool = False,
                       stream: TextIO = sys.stderr, target: Target | None = None) -> RunResult:
    """Run `scenario` (its short form with `short`); data and logs go under `workdir`.

    With `target`, against that running gateway instead of processes of its own (rgw.chaos.attach)."""
    if short:
        scenario = scenario.shortened()
    started_wall = time.monotonic()
    started_at = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    name = f"chaos {scenario.name}{' (short)' if short else ''}"
    if target is None:
        deployment = deploy(workdir, scenario)
        stream.write(f"{name}: starting {len(scenario.topology.regions)} region(s), the gateway"
                     f"{' and fault proxies' if deployment.proxy else ''} in {workdir}\n")
    else:
        deployment = await attach(scenario, target.gateway_url, target.token, target.config_path,
                                  target.control_url, target.api_key)
        await admin(deployment, "PUT", f"policies/{quote(scenario.load.collection, safe='')}", policy_fields(scenario))
        stream.write(f"{name}: attached to the gateway at {deployment.gateway_url}; collection "
                     f"{scenario.load.collection} with the scenario's policy (its other gateway settings are the "
                     "running gateway's)\n")
        if deployment.config_path is None and scenario.expect.verify:
            stream.write(f"{name}: rgw verify will not run: it reads the journal, give the gateway's --config\n")
            scenario = dataclasses.replace(scenario, expect=dataclasses.replace(scenario.expect, verify=False))
    workload = Workload(scenario.load)  # embedding costs CPU: all of it before anything is measured
    await asyncio.to_thread(deployment.start)
    try:
        recorder = Recorder()
        await preload(deployment.gateway_url, scenario.load, workload, recorder, deployment.client_headers)
        stream.write(f"chaos {scenario.name}: preloaded {recorder.preloaded} points; load for "
                     f"{scenario.load.duration_s:g}s, {len(scenario.steps)} timeline step(s)\n")
        clock = Clock()
        world = World(scenario.topology.regions)
        poller = StatusPoller(deployment.gateway_url, clock, deployment.client_headers)
        async with Executor(deployment, scenario, world, clock, recorder.acked_points) as executor:
            progress = LiveProgress(stream, clock, recorder, poller, executor)
            done = asyncio.Event()
            clock.reset()
            background = [asyncio.create_task(poller.run()), asyncio.create_task(progress.run(done))]
            try:
                generator = LoadGenerator(deployment.gateway_url, scenario.load, workload, recorder, clock,
                                          headers=deployment.client_headers)
                await asyncio.gather(generator.run(), executor.run_timeline())
                load_end = clock.now()
                progress.note("load finished; healing what the timeline left broken")
                await executor.heal()
                progress.tick()
                converged = await poller.wait_converged(convergence_budget(scenario))
                convergence_s = None if converged is None else max(0.0, converged.t - load_end)
                progress.note("converged" if converged else "NOT converged; checking the data anyway")
                loss = await check_acked(deployment.store_urls, scenario.load.collection, recorder.acked_ids(),
                                         workload)
                progress.note(f"acknowledged points checked in every store: {loss.lost} lost")
                verify = await run_verify(deployment.config_path, scenario.load.collection, VERIFY_WAIT_S) \
                    if scenario.expect.verify and deployment.config_path is not None else None
                if verify is not None:
                    progress.note(f"rgw verify: exit {verify.exit_code}")
            finally:
                poller.stop()
                done.set()
                await asyncio.gather(*background, return_exceptions=True)
    finally:
        if deployment.attached:
            await _leave(deployment, scenario.load.collection, stream)
        await asyncio.to_thread(deployment.stop)
    measured = measure(scenario, recorder.reads, recorder.writes, executor.events, world, poller.samples, load_end)
    checks = evaluate(scenario, measured, executor.events, loss, verify, convergence_s)
    return RunResult(scenario, short, started_at, time.monotonic() - started_wall, recorder, executor.events,
                     poller.samples, measured, loss, verify, convergence_s, checks)


async def _leave(deployment: Deployment, collection: str, stream: TextIO) -> None:
    """An attached run drops its collection and the policy it set, leaving the gateway as it found it."""
    problem = await drop_collection(deployment, collection)
    try:
        await admin(deployment, "DELETE", f"policies/{quote(collection, safe='')}")
    except AttachError as exc:
        problem = f"{problem + '; ' if problem else ''}policy reset: {exc}"
    stream.write(f"chaos: collection {collection} dropped, its policy override removed\n" if problem is None else
                 f"chaos: WARNING: could not clean up {collection} on the gateway: {problem}\n")


def write_report(result: RunResult, report_dir: Path, logs: Path | None = None) -> dict[str, Path]:
    """scorecard.json, scorecard.md, timeline.png (and the processes' logs) into report_dir."""
    report_dir.mkdir(parents=True, exist_ok=True)
    card = scorecard(result)
    png = plot(report_dir / "timeline.png", f"{result.scenario.name}{' (short)' if result.short else ''}",
               result.recorder.reads, result.events, result.samples, result.scenario.topology.regions)
    paths = {"json": report_dir / "scorecard.json", "markdown": report_dir / "scorecard.md", "png": png}
    paths["json"].write_bytes(orjson.dumps(card, option=orjson.OPT_INDENT_2))
    paths["markdown"].write_text(markdown(card, png.name))
    if logs is not None and logs.is_dir():
        shutil.copytree(logs, report_dir / "logs", dirs_exist_ok=True)
    return paths
