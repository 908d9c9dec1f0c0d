"""Degraded serving along the policy chain: cache, partial, forced modes and drains, always labelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from rgw.topology import Topology, local_topology
from tests.journal.ingest import point, wait_converged
from tests.proxy.helpers import seed_collection

COLLECTION = "docs"
FAST_CACHE = "fast"  # best-effort: a fresh cache hit is served before asking a region
TOKEN = "operator-token"
POLICIES = f"""
[policies.collections.{FAST_CACHE}]
tier = "best-effort"
cache_ttl_s = 60.0
"""


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Topology]:
    topo = local_topology(tmp_path / "topology", extra_config=POLICIES)
    topo.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    topo.start()
    try:
        yield topo
    finally:
        topo.stop()


async def query(session: aiohttp.ClientSession, topo: Topology, collection: str, vector: list[float],
                **extra) -> tuple[int, dict, dict]:
    body = {"query": vector, "limit": 3, **extra}
    async with session.post(f"{topo.gateway_url}/collections/{collection}/points/query", json=body) as resp:
        return resp.status, orjson.loads(await resp.read()), dict(resp.headers)


async def admin(session: aiohttp.ClientSession, topo: Topology, path: str, body: dict) -> dict:
    async with session.post(f"{topo.gateway_url}/gateway/admin/{path}", json=body,
                            headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        payload = orjson.loads(await resp.read())
        assert resp.status == 200, payload
        return payload["result"]


async def test_both_regions_down_cache_serves_what_was_answered_before(gateway: Topology) -> None:
    vectors = seed_collection(gateway.gateway_url, COLLECTION)
    async with aiohttp.ClientSession() as session:
        live_sent = time.monotonic()
        status, live, headers = await query(session, gateway, COLLECTION, vectors[0])
        live_done = time.monotonic()
        assert status == 200 and headers["X-Gateway-Mode"] == "normal"
        for store in gateway.stores.values():
            store.kill()
        cached_sent = time.monotonic()
        status, cached, headers = await query(session, gateway, COLLECTION, vectors[0])
        cached_done = time.monotonic()
        assert status == 200
        assert headers["X-Gateway-Source"] == "cache" and headers["X-Gateway-Mode"] == "cache"
        # Its age: cached while the live read was in flight, served while this one was (header in ms).
        age = float(headers["X-Gateway-Staleness"])
        assert cached_sent - live_done - 0.001 <= age <= cached_done - live_sent + 0.001
        assert cached["result"] == live["result"]

        status, error, headers = await query(session, gateway, COLLECTION, vectors[1])  # never answered before
        assert status == 503
        message = error["status"]["error"]
        for source in ("primary", "secondary", "partial", "cache", "lexical"):
            assert source in message, message
        assert "no query text" in message


async def test_a_write_is_never_hidden_by_a_fresh_cache_hit(gateway: Topology) -> None:
    vectors = seed_collection(gateway.gateway_url, FAST_CACHE)
    async with aiohttp.ClientSession() as session:
        await query(session, gateway, FAST_CACHE, vectors[5])
        status, _, headers = await query(session, gateway, FAST_CACHE, vectors[5])
        assert headers["X-Gateway-Source"] == "cache"  # fresh hit, served first by policy
        new = point(9000)
        new["vector"] = vectors[5]
        async with session.put(f"{gateway.gateway_url}/collections/{FAST_CACHE}/points?wait=true",
                               json={"points": [new]}) as resp:
            assert resp.status == 200
        status, after, headers = await query(session, gateway, FAST_CACHE, vectors[5])
        assert status == 200 and headers["X-Gateway-Source"] != "cache"
        assert 9000 in [p["id"] for p in after["result"]["points"]]


async def test_forced_mode_and_drain_are_honoured_and_reverted(gateway: Topology) -> None:
    vectors = seed_collection(gateway.gateway_url, COLLECTION)
    async with aiohttp.ClientSession() as session:
        await admin(session, gateway, f"collections/{COLLECTION}/mode", {"source": "secondary"})
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert (headers["X-Gateway-Source"], headers["X-Gateway-Mode"]) == ("secondary", "failover")
        await admin(session, gateway, f"collections/{COLLECTION}/mode", {"source": "auto"})
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert headers["X-Gateway-Source"] == "primary"

        await admin(session, gateway, "regions/primary/drain", {})
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert headers["X-Gateway-Source"] == "secondary"
        async with session.get(f"{gateway.gateway_url}/gateway/status") as resp:
            drained = orjson.loads(await resp.read())["operator"]["drained"]
            assert "primary" in drained and drained["primary"]["set_at"] > 0
        await admin(session, gateway, "regions/primary/undrain", {})
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert headers["X-Gateway-Source"] == "primary"

        await admin(session, gateway, f"collections/{COLLECTION}/mode", {"source": "lexical"})
        status, error, _ = await query(session, gateway, COLLECTION, vectors[0])
        assert status == 503 and "forced to lexical" in error["status"]["error"]


async def test_operator_changes_survive_a_gateway_restart(gateway: Topology) -> None:
    vectors = seed_collection(gateway.gateway_url, COLLECTION)
    async with aiohttp.ClientSession() as session:
        await admin(session, gateway, "regions/primary/drain", {})
    gateway.gateway.stop()
    gateway.gateway.start()
    async with aiohttp.ClientSession() as session:
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert headers["X-Gateway-Source"] == "secondary"


async def test_partial_answers_carry_their_true_coverage(gateway: Topology) -> None:
    vectors = seed_collection(gateway.gateway_url, COLLECTION, points=200)
    await wait_converged(gateway.gateway_url)
    async with aiohttp.ClientSession() as session:
        # The primary holds 200 of an expected 250 points: coverage 0.8, at the default min_coverage.
        await admin(session, gateway, f"collections/{COLLECTION}/restore-mark", {"region": "primary", "expected": 250})
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert headers["X-Gateway-Source"] == "secondary"  # a restoring region is not a full source
        gateway.stores["secondary"].kill()
        deadline = time.monotonic() + 10
        while True:
            status, body, headers = await query(session, gateway, COLLECTION, vectors[0])
            if headers.get("X-Gateway-Mode") == "partial" or time.monotonic() > deadline:
                break
        assert status == 200, body
        assert headers["X-Gateway-Source"] == "partial:primary"
        assert float(headers["X-Gateway-Coverage"]) == pytest.approx(0.8)
        # Below min_coverage the chain moves on (to cache, which has this query).
        await admin(session, gateway, f"collections/{COLLECTION}/restore-mark", {"region": "primary", "expected": 1000})
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert headers["X-Gateway-Mode"] == "cache"
        await admin(session, gateway, f"collections/{COLLECTION}/restore-mark", {"region": "primary", "clear": True})
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert headers["X-Gateway-Source"] == "primary"


async def test_admin_refuses_missing_or_wrong_tokens_and_changes_nothing(gateway: Topology) -> None:
    seed_collection(gateway.gateway_url, COLLECTION)
    url = f"{gateway.gateway_url}/gateway/admin/collections/{COLLECTION}/mode"
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
            async with session.post(url, json={"source": "lexical"}, headers=headers) as resp:
                assert resp.status == 401
        async with session.get(f"{gateway.gateway_url}/gateway/policies/{COLLECTION}") as resp:
            assert orjson.loads(await resp.read())[COLLECTION]["forced"] is None
        async with session.post(url, json={"source": "nowhere"}, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 400 and "unknown source" in (await resp.text())


async def test_a_region_too_far_behind_does_not_answer(tmp_path: Path) -> None:
    topo = local_topology(tmp_path / "topology", extra_config=f"""
[policies.collections.{COLLECTION}]
max_staleness_s = 0.5
""")
    topo.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    with topo:
        vectors = seed_collection(topo.gateway_url, COLLECTION)
        async with aiohttp.ClientSession() as session:
            await admin(session, topo, "regions/primary/replication/pause", {})
            async with session.put(f"{topo.gateway_url}/collections/{COLLECTION}/points?wait=false",
                                   json={"points": [point(7000)]}) as resp:
                assert resp.status == 200
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                _, _, headers = await query(session, topo, COLLECTION, vectors[0])
                if headers["X-Gateway-Source"] == "secondary":
                    break
                await asyncio.sleep(0.1)
            assert headers["X-Gateway-Source"] == "secondary"
            assert "max_staleness_s" in headers["X-Gateway-Attempts"]
            await admin(session, topo, "regions/primary/replication/resume", {})
            await wait_converged(topo.gateway_url)
            _, _, headers = await query(session, topo, COLLECTION, vectors[0])
            assert headers["X-Gateway-Source"] == "primary"


async def test_policy_overrides_apply_at_once_and_bad_ones_change_nothing(gateway: Topology) -> None:
    url = f"{gateway.gateway_url}/gateway/admin/policies/{COLLECTION}"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def effective(session: aiohttp.ClientSession) -> dict:
        async with session.get(f"{gateway.gateway_url}/gateway/policies/{COLLECTION}") as resp:
            return orjson.loads(await resp.read())[COLLECTION]

    async with aiohttp.ClientSession() as session:
        async with session.put(url, json={"tier": "critical", "cache_ttl_s": 30.0}, headers=auth) as resp:
            assert resp.status == 200
        described = await effective(session)
        assert described["policy"]["cache_ttl_s"] == 30.0
        assert described["chain"] == ["primary", "secondary", "partial", "cache"]  # critical: never lexical
        async with session.put(url, json={"min_coverage": 3}, headers=auth) as resp:
            assert resp.status == 400 and "min_coverage" in await resp.text()
        assert (await effective(session))["policy"]["cache_ttl_s"] == 30.0
        async with session.put(url, json={"reset": True}, headers=auth) as resp:
            assert resp.status == 200
        described = await effective(session)
        assert described["override"] is None and described["chain"][-1] == "lexical"


async def test_a_policy_override_reroutes_the_very_next_read(gateway: Topology) -> None:
    vectors = seed_collection(gateway.gateway_url, COLLECTION)
    url = f"{gateway.gateway_url}/gateway/admin/policies/{COLLECTION}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert (headers["X-Gateway-Source"], headers["X-Gateway-Mode"]) == ("primary", "normal")
        async with session.put(url, json={"chain": ["secondary", "primary"]}, headers=auth) as resp:
            assert resp.status == 200
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert (headers["X-Gateway-Source"], headers["X-Gateway-Mode"]) == ("secondary", "normal")
        async with session.put(url, json={"reset": True}, headers=auth) as resp:
            assert resp.status == 200
        _, _, headers = await query(session, gateway, COLLECTION, vectors[0])
        assert (headers["X-Gateway-Source"], headers["X-Gateway-Mode"]) == ("primary", "normal")
