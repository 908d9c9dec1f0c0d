"""Passive outlier detection against real regions: reads that fail eject a region, repeats eject it for
longer, a passing active check lets it back on probation, and when every region looks down all are
still tried. Faults are real: a fault proxy refusing or swallowing connections, a killed store."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from rgw.chaos.faultproxy import FaultProxy
from rgw.chaos.faults import Blackhole
from rgw.topology import local_topology
from tests.proxy.helpers import behind_fault_proxy, region_status, seed_collection

COLLECTION = "docs"
CONSECUTIVE_ERRORS = 3
PER_TRY_TIMEOUT_S = 1.0
WAIT_S = 20.0  # bound on waiting for something the gateway should do promptly

# Active checks (and the per-collection inspections) effectively off: only real reads judge the regions.
PASSIVE_ONLY = f"""
[health]
interval_s = 3600.0
collections_interval_s = 3600.0

[outlier]
consecutive_errors = {CONSECUTIVE_ERRORS}
base_ejection_s = {{base}}
max_ejection_s = 100.0

[routing]
per_try_timeout_s = {PER_TRY_TIMEOUT_S}
hedging = false  # a hedge that wins cancels the attempt it raced: the slow region's timeout would go uncounted
"""


@dataclass
class Read:
    status: int
    source: str | None
    mode: str | None
    attempts: str  # X-Gateway-Attempts: every region tried before the answer (absent when only one was)
    sent: float
    done: float


async def read(url: str, vector: list[float]) -> Read:
    sent = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.post(f"{url}/collections/{COLLECTION}/points/query",
                                json={"query": vector, "limit": 3}) as resp:
            await resp.read()
            return Read(resp.status, resp.headers.get("X-Gateway-Source"), resp.headers.get("X-Gateway-Mode"),
                        resp.headers.get("X-Gateway-Attempts", ""), sent, time.monotonic())


async def wait_state(url: str, region: str, state: str, timeout: float = WAIT_S) -> dict:
    """Poll `/gateway/status` until `region` is in `state`; its status then."""
    deadline = time.monotonic() + timeout
    while True:
        current = await region_status(url, region)
        if current["state"] == state:
            return current
        assert time.monotonic() < deadline, f"{region} not {state} within {timeout}s: {current}"
        await asyncio.sleep(0.05)


async def fault_on(proxy: FaultProxy, kind: str) -> None:
    """Make the primary fail reads: `refused` (its port closed) or `timeout` (connections swallow data)."""
    if kind == "timeout":
        proxy.add(Blackhole())
    else:
        await proxy.stop()


async def fault_off(proxy: FaultProxy, kind: str) -> None:
    if kind == "timeout":
        proxy.remove("blackhole")
    else:
        await proxy.start()


@pytest.mark.parametrize(("kind", "error"), [("refused", "primary: connect"), ("timeout", "primary: timeout")])
async def test_consecutive_errors_eject_and_each_repeat_ejects_for_longer(tmp_path: Path, kind: str,
                                                                          error: str) -> None:
    base = 2.0
    async with behind_fault_proxy(tmp_path / "topology", extra_config=PASSIVE_ONLY.format(base=base)) as deployed:
        topology, proxy = deployed
        url = topology.gateway_url
        vectors = await asyncio.to_thread(seed_collection, url, COLLECTION)
        assert (await read(url, vectors[0])).source == "primary"
        await fault_on(proxy, kind)

        for ejection in (1, 2):
            for error_number in range(1, CONSECUTIVE_ERRORS + 1):
                answer = await read(url, vectors[error_number])
                # Each read still succeeds: the failed primary is retried on the secondary in the same request.
                assert (answer.status, answer.source, answer.mode) == (200, "secondary", "failover"), answer
                assert error in answer.attempts, answer
                primary = await region_status(url, "primary")
                if error_number < CONSECUTIVE_ERRORS:
                    assert primary["state"] == "healthy" and not primary["outlier"]["ejected"], primary
                    assert primary["outlier"]["consecutive_errors"] == error_number
            status_done = time.monotonic()
            assert primary["state"] == "ejected" and primary["outlier"]["ejections"] == ejection, primary
            # Ejection n lasts n x base: it began while the last read was in flight.
            assert ejection * base - (status_done - answer.sent) <= primary["outlier"]["ejected_for_s"]
            assert primary["outlier"]["ejected_for_s"] <= ejection * base
            failed = primary["requests"]["failed"]

            # While ejected, the primary is not even tried.
            during = await read(url, vectors[0])
            assert (during.status, during.source, during.attempts) == (200, "secondary", ""), during
            assert (await region_status(url, "primary"))["requests"]["failed"] == failed
            await wait_state(url, "primary", "healthy", timeout=ejection * base + WAIT_S)

        await fault_off(proxy, kind)
        back = await read(url, vectors[0])
        assert (back.status, back.source, back.mode) == (200, "primary", "normal"), back


async def test_a_passing_active_check_unejects_on_probation(tmp_path: Path) -> None:
    base = 30.0  # only an active check can end an ejection within the test
    config = f"""
[health]
unhealthy_threshold = 1000  # the active checks never call it down: ejection alone takes it out

[outlier]
consecutive_errors = {CONSECUTIVE_ERRORS}
base_ejection_s = {base}
max_ejection_s = 100.0
"""
    async with behind_fault_proxy(tmp_path / "topology", extra_config=config) as (topology, proxy):
        url = topology.gateway_url
        vectors = await asyncio.to_thread(seed_collection, url, COLLECTION)
        assert (await read(url, vectors[0])).source == "primary"

        await proxy.stop()
        for i in range(CONSECUTIVE_ERRORS):
            assert (await read(url, vectors[i])).source == "secondary"
        assert (await region_status(url, "primary"))["outlier"]["ejections"] == 1

        await proxy.start()
        probation = await wait_state(url, "primary", "half-open")  # well before the 30 s ejection ends
        assert probation["outlier"]["half_open"] and not probation["outlier"]["ejected"]

        # On probation, one failure is enough to eject it again, for twice as long.
        await proxy.stop()
        answer = await read(url, vectors[5])
        assert (answer.status, answer.source) == (200, "secondary") and "primary: connect" in answer.attempts
        primary = await region_status(url, "primary")
        assert primary["state"] == "ejected" and primary["outlier"]["ejections"] == 2, primary
        assert primary["outlier"]["ejected_for_s"] > base  # 2 x base, less the moments since

        # Let back on probation again, one good answer puts it back in rotation.
        await proxy.start()
        await wait_state(url, "primary", "half-open")
        answer = await read(url, vectors[6])
        assert (answer.status, answer.source, answer.mode) == (200, "primary", "normal"), answer
        primary = await region_status(url, "primary")
        assert primary["state"] == "healthy" and not primary["outlier"]["half_open"], primary


async def test_when_every_region_looks_down_all_are_still_tried(tmp_path: Path) -> None:
    topology = local_topology(tmp_path / "topology", extra_config=PASSIVE_ONLY.format(base=100.0))
    with topology:
        url = topology.gateway_url
        vectors = await asyncio.to_thread(seed_collection, url, COLLECTION)
        for store in topology.stores.values():
            store.kill()
        for i in range(CONSECUTIVE_ERRORS):
            # A query never answered before and without text: no cache entry, no lexical answer.
            assert (await read(url, vectors[10 + i])).status == 503
        for region in topology.stores:
            assert (await region_status(url, region))["state"] == "ejected"

        for store in topology.stores.values():
            await asyncio.to_thread(store.start)
        answer = await read(url, vectors[20])
        assert (answer.status, answer.source, answer.mode) == (200, "primary", "normal"), answer
        for region in topology.stores:  # answered while the gateway still believed both down
            assert (await region_status(url, region))["state"] == "ejected"
