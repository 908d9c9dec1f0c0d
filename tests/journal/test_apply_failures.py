"""A region that fails to apply: a 5xx or 429 is retried with backoff until it goes in; a 4xx marks the region
diverged with a dead letter in `rgw status`, the applier moves on, and `rgw verify --repair` repairs the drift."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from qdrant_client import models

from rgw.auth.admin import TOKEN_ENV
from rgw.procs import free_port, store_process
from rgw.topology import Topology, local_topology
from tests.journal.ingest import create_collection, gateway_status, point, region_points, wait_converged
from tests.journal.test_verify import verify
from tests.proxy.helpers import connect

COLLECTION = "applied"


@dataclass
class Refusals:
    """An HTTP hop in front of a real region store that answers the next `count` point upserts with `status`
    (what an overloaded or restarting Qdrant answers) and forwards everything else untouched."""

    upstream: str
    status: int = 503
    count: int = 0
    refused_at: list[float] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "PUT" and request.path.endswith("/points") and self.count > 0:
            self.count -= 1
            self.refused_at.append(time.monotonic())
            error = {"status": {"error": f"refused by the test ({self.status})"}, "time": 0.0}
            return web.json_response(error, status=self.status)
        async with aiohttp.ClientSession() as session, session.request(
                request.method, self.upstream + request.path_qs, data=body,
                headers={"Content-Type": request.headers.get("Content-Type", "application/json")}) as resp:
            return web.Response(body=await resp.read(), status=resp.status, content_type=resp.content_type)


@pytest.fixture
async def refusing_secondary(tmp_path: Path) -> AsyncIterator[tuple[Topology, Refusals]]:
    """Two regions and the gateway; the gateway reaches the secondary through a `Refusals` hop."""
    listen = free_port()
    topology = local_topology(tmp_path / "topology", store_ports={"secondary": listen})
    real = free_port()
    topology.stores["secondary"] = store_process("secondary", real, topology.base / "regions" / "secondary",
                                                 topology.base / "logs")
    refusals = Refusals(f"http://127.0.0.1:{real}")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refusals.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", listen).start()
    try:
        await asyncio.to_thread(topology.start)
        try:
            yield topology, refusals
        finally:
            await asyncio.to_thread(topology.stop)
    finally:
        await runner.cleanup()


async def secondary_replication(url: str) -> dict:
    return next(r for r in (await gateway_status(url))["regions"] if r["name"] == "secondary")["replication"]


@pytest.mark.parametrize("status", [503, 429])
async def test_a_transient_refusal_is_retried_with_backoff_until_applied(
        refusing_secondary: tuple[Topology, Refusals], status: int) -> None:
    topology, refusals = refusing_secondary
    await asyncio.to_thread(create_collection, topology.gateway_url, COLLECTION)
    refusals.status, refusals.count = status, 5
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{topology.gateway_url}/collections/{COLLECTION}/points?wait=false",
                               json={"points": [point(i) for i in range(10)]}) as resp:
            assert resp.status == 200  # journaled: the region's trouble is the applier's, not the client's
    await wait_converged(topology.gateway_url)

    assert len(refusals.refused_at) == 5
    replication = await secondary_replication(topology.gateway_url)
    assert replication["retries"] >= 5 and not replication["diverged"] and replication["dead_letters_total"] == 0
    assert set(await asyncio.to_thread(region_points, topology.store_url("secondary"), COLLECTION)) == set(range(10))
    # Backoff, not a hot loop: over loopback, five immediate retries would all land within milliseconds.
    gaps = [later - earlier for earlier, later in zip(refusals.refused_at, refusals.refused_at[1:], strict=False)]
    assert min(gaps) >= 0.04 and sum(gaps) >= 0.5, gaps


def rgw_status(topology: Topology, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rgw.cli", "status", "--gateway", topology.gateway_url, *extra],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def admin_topology(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Topology]:
    """A topology whose admin API is on, with `rgw verify` (run by the test) holding the same token."""
    monkeypatch.setenv(TOKEN_ENV, "verify-token")
    topology = local_topology(tmp_path / "topology")
    topology.gateway.env[TOKEN_ENV] = "verify-token"
    topology.start()
    try:
        yield topology
    finally:
        topology.stop()


async def test_a_rejected_write_marks_the_region_diverged_and_verify_repairs_it(admin_topology: Topology) -> None:
    topology = admin_topology
    await asyncio.to_thread(create_collection, topology.gateway_url, COLLECTION)
    gateway = connect(topology.gateway_url)
    gateway.upsert(COLLECTION, wait=True, points=[models.PointStruct(**point(i)) for i in range(50)])
    # Behind the gateway's back the secondary loses point 7: the next write naming it is refused there (404).
    secondary = connect(topology.store_url("secondary"))
    secondary.delete(COLLECTION, points_selector=models.PointIdsList(points=[7]), wait=True)
    rejected = gateway.set_payload(COLLECTION, payload={"flag": "set"}, points=[7], wait=False)
    later = gateway.upsert(COLLECTION, wait=False, points=[models.PointStruct(**point(100))])
    await wait_converged(topology.gateway_url)

    replication = await secondary_replication(topology.gateway_url)
    assert replication["diverged"] and str(rejected.operation_id) in replication["diverged_reason"]
    assert [letter["lsn"] for letter in replication["dead_letters"]] == [rejected.operation_id]
    assert later.operation_id > rejected.operation_id and 100 in region_points(topology.store_url("secondary"),
                                                                               COLLECTION)  # it moved on
    shown = rgw_status(topology)
    assert shown.returncode == 0, shown.stderr
    assert any(line.startswith("secondary") and "DIVERGED" in line for line in shown.stdout.splitlines())
    assert f"lsn {rejected.operation_id}" in shown.stdout and "1 dead letters" in shown.stdout
    as_json = orjson.loads(rgw_status(topology, "--json").stdout)
    assert next(r for r in as_json["regions"] if r["name"] == "secondary")["replication"]["dead_letters_total"] == 1

    code, report = await asyncio.to_thread(verify, topology, COLLECTION, "--repair")
    assert code == 0, report
    before = {r["region"]: r for r in report["before"]["collections"][0]["regions"]}
    assert before["secondary"]["missing"]["first"] == [7] and not before["primary"]["drift"]
    assert report["repair"][0]["upserted"] == 1 and not report["after"]["drift"]
    [repaired] = secondary.retrieve(COLLECTION, ids=[7], with_payload=True)
    assert repaired.payload == {**point(7)["payload"], "flag": "set"}  # the journal's version, rejected write included
    # The clean re-check shows the secondary holds the journal's version: its dead letter is resolved.
    assert any("secondary: 1 dead letter(s)" in note for note in report["resolved"]), report["resolved"]
    replication = await secondary_replication(topology.gateway_url)
    assert replication["dead_letters_total"] == 0 and not replication["diverged"]
    gateway.close()
    secondary.close()
