"""`routing.freshness_wait_s`: a read that must see a write no region has applied yet waits up to that long
for one to catch up; it answers fresh as soon as one does, and stale (and saying so) only after the wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from rgw.topology import Topology, local_topology
from tests.journal.ingest import create_collection, point, wait_converged

COLLECTION = "fresh"
TOKEN = "freshness-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FRESHNESS_WAIT_S = 3.0


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Topology]:
    topology = local_topology(tmp_path / "topology", extra_config=f"""
[routing]
freshness_wait_s = {FRESHNESS_WAIT_S}
""")
    topology.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    with topology:
        create_collection(topology.gateway_url, COLLECTION)
        yield topology


async def replication(session: aiohttp.ClientSession, url: str, region: str, action: str) -> None:
    async with session.post(f"{url}/gateway/admin/regions/{region}/replication/{action}", headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()


async def write_unapplied(session: aiohttp.ClientSession, url: str, point_id: int) -> str:
    """A write journaled while no region applies: its LSN."""
    async with session.put(f"{url}/collections/{COLLECTION}/points?wait=false",
                           json={"points": [point(point_id)]}) as resp:
        assert resp.status == 200
        return resp.headers["X-Gateway-LSN"]


async def retrieve(session: aiohttp.ClientSession, url: str, point_id: int, lsn: str) -> tuple[dict, list[int], float]:
    """Read the point back requiring `lsn`: (headers, ids found, seconds taken)."""
    started = time.monotonic()
    async with session.post(f"{url}/collections/{COLLECTION}/points", json={"ids": [point_id]},
                            headers={"X-Gateway-Min-LSN": lsn}) as resp:
        body = orjson.loads(await resp.read())
        assert resp.status == 200, body
        return dict(resp.headers), [p["id"] for p in body["result"]], time.monotonic() - started


async def test_a_read_waits_for_a_region_to_catch_up_then_answers_stale(gateway: Topology) -> None:
    url = gateway.gateway_url
    async with aiohttp.ClientSession() as session:
        for region in gateway.stores:
            await replication(session, url, region, "pause")

        lsn = await write_unapplied(session, url, 1)
        headers, found, took = await retrieve(session, url, 1, lsn)
        assert took >= FRESHNESS_WAIT_S - 0.01  # the whole window (less timer rounding): no region caught up
        assert found == [] and headers["X-Gateway-Source"] == "primary"  # then the stale answer, labelled
        assert float(headers["X-Gateway-Staleness"]) > 0

        lsn = await write_unapplied(session, url, 2)
        reading = asyncio.create_task(retrieve(session, url, 2, lsn))
        await replication(session, url, "secondary", "resume")  # the read is waiting, or will not need to
        headers, found, took = await reading
        assert found == [2], headers  # answered fresh by the region that caught up
        assert (headers["X-Gateway-Source"], float(headers["X-Gateway-Staleness"])) == ("secondary", 0.0)
        assert took < FRESHNESS_WAIT_S  # as soon as it had caught up, not at the end of the window

        await replication(session, url, "primary", "resume")
    await wait_converged(url)
