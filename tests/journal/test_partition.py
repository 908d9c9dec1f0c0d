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
from rgw.journal.applier import APPLY_TIMEOUT_S
from rgw.procs import free_port, store_process
from rgw.topology import Topology, local_topology
from tests.journal.ingest import create_collection, gateway_status, point, region_points

COLLECTION = "partitioned"
WAIT_S = 30.0


@pytest.fixture
async def behind_proxy(tmp_path: Path) -> AsyncIterator[tuple[Topology, FaultProxy]]:
    """Two regions and the gateway; the gateway reaches the primary through a fault proxy in this process."""
    listen = free_port()
    topology = local_topology(tmp_path / "topology", store_ports={"primary": listen})
    real = free_port()
    topology.stores["primary"] = store_process("primary", real, topology.base / "regions" / "primary",
                                               topology.base / "logs")
    proxy = FaultProxy("primary", f"127.0.0.1:{listen}", f"127.0.0.1:{real}")
    await proxy.start()
    try:
        await asyncio.to_thread(topology.start)  # the proxy keeps forwarding meanwhile
        try:
            yield topology, proxy
        finally:
            await asyncio.to_thread(topology.stop)
    finally:
        await proxy.stop()


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

    proxy.add(Blackhole())
    await _until(unhealthy, "the primary seen unhealthy")
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{topology.gateway_url}/collections/{COLLECTION}/points",
                               json={"points": [point(i) for i in range(20)]}) as resp:
            assert resp.status == 200  # acknowledged by the journal; the primary's copy is sent into the hole
    await _until(lagging, "the primary's apply in flight")
    await asyncio.sleep(1.5)  # the apply has been outstanding a while: it is lost, not slow

    proxy.remove("blackhole")
    took = await _until(caught_up, "the primary caught up after the heal")

    assert took < APPLY_TIMEOUT_S / 2, f"caught up {took:.1f}s after the heal: the lost apply was waited out"
    assert (await primary())["replication"]["abandoned"] >= 1
    held = await asyncio.to_thread(region_points, topology.store_url("primary"), COLLECTION)
    assert set(held) == set(range(20))
