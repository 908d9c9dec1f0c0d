"""Every acknowledged write reaches every region, whatever dies while it is being written."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from rgw.topology import Topology
from tests.journal.ingest import (
    Ingest,
    create_collection,
    gateway_status,
    point,
    region_points,
    wait_converged,
)
from tests.proxy.helpers import DIM

COLLECTION = "ingest"
TOTAL = 20_000


def assert_regions_identical(topology: Topology, expected_ids: set[int]) -> None:
    primary = region_points(topology.store_url("primary"), COLLECTION)
    secondary = region_points(topology.store_url("secondary"), COLLECTION)
    missing = expected_ids - primary.keys()
    assert not missing, f"{len(missing)} acknowledged points missing on primary"
    missing = expected_ids - secondary.keys()
    assert not missing, f"{len(missing)} acknowledged points missing on secondary"
    assert primary.keys() == secondary.keys()
    differing = [i for i in primary if primary[i] != secondary[i]]
    assert differing == [], f"{len(differing)} points differ between regions, e.g. {differing[:3]}"


def restart_with_admin_token(topology: Topology, token: str) -> dict[str, str]:
    """Restart the gateway with its admin API on; returns the header that authenticates."""
    topology.gateway.stop()
    topology.gateway.env["RGW_ADMIN_TOKEN"] = token
    topology.gateway.start()
    return {"Authorization": f"Bearer {token}"}


async def ingest_while(topology: Topology, region: str, restart: bool = True) -> Ingest:
    create_collection(topology.gateway_url, COLLECTION)
    ingest = Ingest(topology.gateway_url, COLLECTION, TOTAL)
    task = asyncio.create_task(ingest.run())
    await ingest.wait_acked(TOTAL // 2)
    topology.stores[region].kill()
    await ingest.wait_acked(TOTAL * 3 // 4)
    if restart:
        topology.stores[region].start()
    await task
    return ingest


async def test_secondary_killed_mid_ingest_catches_up(topology: Topology) -> None:
    ingest = await ingest_while(topology, "secondary")
    assert ingest.failures == []
    status = await wait_converged(topology.gateway_url)
    assert all(r["replication"]["lag_seconds"] == 0 for r in status["regions"])
    assert_regions_identical(topology, set(range(TOTAL)))


async def test_primary_killed_mid_ingest_writes_still_acknowledged(topology: Topology) -> None:
    ingest = await ingest_while(topology, "primary")
    assert ingest.failures == [], ingest.failures[:3]  # the journal acknowledges without the primary
    await wait_converged(topology.gateway_url)
    assert_regions_identical(topology, set(range(TOTAL)))


async def test_gateway_killed_mid_ingest_loses_nothing_acknowledged(topology: Topology) -> None:
    create_collection(topology.gateway_url, COLLECTION)
    ingest = Ingest(topology.gateway_url, COLLECTION, TOTAL)
    task = asyncio.create_task(ingest.run())
    await ingest.wait_acked(TOTAL // 2)
    topology.gateway.kill()
    await task  # the rest of the writes fail: they were never acknowledged
    acknowledged = set(ingest.acked)
    topology.gateway.start()
    await wait_converged(topology.gateway_url)
    assert_regions_identical(topology, acknowledged)


async def test_last_write_wins_on_every_region(topology: Topology) -> None:
    create_collection(topology.gateway_url, COLLECTION)
    topology.stores["secondary"].kill()  # it will replay everything later, in LSN order
    url = f"{topology.gateway_url}/collections/{COLLECTION}/points?wait=false"
    async with aiohttp.ClientSession() as session:
        for version in range(5):
            body = orjson.dumps({"points": [point(i, version) for i in range(50)]})
            async with session.put(url, data=body, headers={"content-type": "application/json"}) as resp:
                assert resp.status == 200
    topology.stores["secondary"].start()
    await wait_converged(topology.gateway_url)
    for region in ("primary", "secondary"):
        points = region_points(topology.store_url(region), COLLECTION)
        assert {p["version"] for p, _ in points.values()} == {4}, region


async def test_read_your_writes_with_min_lsn_while_a_region_lags(topology: Topology) -> None:
    create_collection(topology.gateway_url, COLLECTION)
    auth = restart_with_admin_token(topology, "test-token")
    base = topology.gateway_url
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/gateway/admin/regions/primary/replication/pause", headers=auth) as resp:
            assert resp.status == 200
        body = orjson.dumps({"points": [point(7)]})
        async with session.put(f"{base}/collections/{COLLECTION}/points?wait=false", data=body,
                               headers={"content-type": "application/json"}) as resp:
            assert resp.status == 200
            lsn = resp.headers["X-Gateway-LSN"]
            assert (await resp.json())["result"]["status"] == "acknowledged"

        query = {"ids": [7], "with_payload": True}
        retrieve = f"{base}/collections/{COLLECTION}/points"
        async with session.post(retrieve, json=query, headers={"X-Gateway-Min-LSN": lsn}) as resp:
            assert resp.status == 200
            assert resp.headers["X-Gateway-Source"] == "secondary"  # the primary lags behind lsn
            assert [p["id"] for p in (await resp.json())["result"]] == [7]
        async with session.post(retrieve, json=query) as resp:
            # Without the header the preferred region answers, stale and saying so.
            assert resp.headers["X-Gateway-Source"] == "primary"
            assert (await resp.json())["result"] == []
            assert float(resp.headers["X-Gateway-Staleness"]) > 0
        async with session.post(retrieve, json=query, headers={"X-Gateway-Min-LSN": "soon"}) as resp:
            assert resp.status == 400
        async with session.post(f"{base}/gateway/admin/regions/primary/replication/resume", headers=auth) as resp:
            assert resp.status == 200
    await wait_converged(base)


async def test_bad_writes_are_refused_and_never_journaled(topology: Topology) -> None:
    create_collection(topology.gateway_url, COLLECTION)
    head = (await gateway_status(topology.gateway_url))["journal"]["head_lsn"]
    url = f"{topology.gateway_url}/collections/{COLLECTION}/points"
    cases = [
        (url, b'{"points": [{"id": 1, "vector": [1.0, 2.0]}]}', 400, "dimension"),
        (url, b'{"points": [{"id": -4, "vector": ' + orjson.dumps([0.1] * DIM) + b"}]}", 400, "id"),
        (url, b'{"points": [', 400, "format error"),
        (f"{topology.gateway_url}/collections/nowhere/points", b'{"points": []}', 404, "doesn't exist"),
    ]
    async with aiohttp.ClientSession() as session:
        for target, body, status, needle in cases:
            async with session.put(target, data=body, headers={"content-type": "application/json"}) as resp:
                payload = await resp.json()
                assert resp.status == status, payload
                assert needle in payload["status"]["error"].lower()
    assert (await gateway_status(topology.gateway_url))["journal"]["head_lsn"] == head


def test_wait_true_writes_are_visible_on_every_serving_region(topology: Topology) -> None:
    from qdrant_client import models

    from tests.proxy.helpers import connect

    create_collection(topology.gateway_url, COLLECTION)
    gateway = connect(topology.gateway_url)
    result = gateway.upsert(COLLECTION, wait=True, points=[models.PointStruct(**point(3))])
    assert result.status == models.UpdateStatus.COMPLETED
    for region in ("primary", "secondary"):
        assert connect(topology.store_url(region)).retrieve(COLLECTION, ids=[3])[0].id == 3


async def wait_lexical_caught_up(url: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await gateway_status(url))["lexical"]["lag_entries"]:
        assert asyncio.get_running_loop().time() < deadline, "lexical index did not catch up"
        await asyncio.sleep(0.05)


async def test_trim_never_drops_what_a_region_still_needs(topology: Topology) -> None:
    create_collection(topology.gateway_url, COLLECTION)
    auth = restart_with_admin_token(topology, "trim-token")
    base = topology.gateway_url
    url = f"{base}/collections/{COLLECTION}/points?wait=true"
    async with aiohttp.ClientSession() as session:
        for i in range(5):
            async with session.put(url, data=orjson.dumps({"points": [point(i)]}),
                                   headers={"content-type": "application/json"}) as resp:
                assert resp.status == 200
        async with session.post(f"{base}/gateway/admin/regions/secondary/replication/pause", headers=auth) as resp:
            assert resp.status == 200
            paused_at = (await resp.json())["result"]["applied_lsn"]
        for i in range(5, 10):
            async with session.put(url.replace("wait=true", "wait=false"), data=orjson.dumps({"points": [point(i)]}),
                                   headers={"content-type": "application/json"}) as resp:
                assert resp.status == 200
        head = (await gateway_status(base))["journal"]["head_lsn"]
        await wait_lexical_caught_up(base)  # so that the paused region is what holds the floor

        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "trim-token"}):
            async with session.post(f"{base}/gateway/admin/journal/trim", json={"below": head + 1},
                                    headers=headers) as resp:
                assert resp.status == 401
        assert (await gateway_status(base))["journal"]["oldest_lsn"] == 1  # refused calls changed nothing

        async with session.post(f"{base}/gateway/admin/journal/trim", json={"below": head + 1}, headers=auth) as resp:
            result = (await resp.json())["result"]
            assert resp.status == 200
        assert result["trimmed_below"] == paused_at + 1  # the paused secondary still needs the rest
        async with session.post(f"{base}/gateway/admin/regions/secondary/replication/resume", headers=auth) as resp:
            assert resp.status == 200
    await wait_converged(base)
    assert set(region_points(topology.store_url("secondary"), COLLECTION)) == set(range(10))
