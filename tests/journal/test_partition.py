"""A write applied into a partition is resent as soon as the region is back, not after the apply timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from rgw.chaos.faultproxy import FaultProxy
from rgw.chaos.faults import Blackhole
from rgw.journal.applier import APPLY_TIMEOUT_S, STUCK_AFTER_S
from rgw.topology import Topology
from tests.journal.ingest import create_collection, gateway_status, point, region_points
from tests.proxy.helpers import behind_fault_proxy

COLLECTION = "partitioned"
WAIT_S = 30.0


@pytest.fixture
async def behind_proxy(tmp_path: Path) -> AsyncIterator[tuple[Topology, FaultProxy]]:
    """Two regions and the gateway; the gateway reaches the primary through a fault proxy in this process."""
    async with behind_fault_proxy(tmp_path / "topology") as deployed:
        yield deployed


async def _until(predicate: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT_S) -> float:
    """Poll until predicate() is true; the time it took."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_write_lost_in_a_partition_is_resent_when_the_region_comes_back(
        behind_proxy: tuple[Topology, FaultProxy]) -> None:
    topology, proxy = behind_proxy
    await asyncio.to_thread(create_collection, topology.gateway_url, COLLECTION)

    async def primary() -> dict:
        return next(r for r in (await gateway_status(topology.gateway_url))["regions"] if r["name"] == "primary")

    async def unhealthy() -> bool:
        return (await primary())["state"] == "unhealthy"

    async def lagging() -> bool:
        return (await primary())["replication"]["lag_entries"] > 0

    async def caught_up() -> bool:
        return (await primary())["replication"]["lag_entries"] == 0

    async def outstanding_long() -> bool:
        # The oldest unapplied entry has waited past STUCK_AFTER_S: its apply is lost, not slow.
        return (await primary())["replication"]["lag_seconds"] > STUCK_AFTER_S

    proxy.add(Blackhole())
    await _until(unhealthy, "the primary seen unhealthy")
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{topology.gateway_url}/collections/{COLLECTION}/points",
                               json={"points": [point(i) for i in range(20)]}) as resp:
            assert resp.status == 200  # acknowledged by the journal; the primary's copy is sent into the hole
    await _until(lagging, "the primary's apply in flight")
    await _until(outstanding_long, f"the primary's apply outstanding over {STUCK_AFTER_S}s")

    proxy.remove("blackhole")
    took = await _until(caught_up, "the primary caught up after the heal")

    # Abandoned, not timed out: resent once the region was back. The bound is the promise itself (not
    # waiting out the apply timeout), with half of that timeout as room for a loaded machine.
    assert (await primary())["replication"]["abandoned"] >= 1
    assert took < APPLY_TIMEOUT_S / 2, f"caught up {took:.1f}s after the heal: the lost apply was waited out"
    held = await asyncio.to_thread(region_points, topology.store_url("primary"), COLLECTION)
    assert set(held) == set(range(20))
