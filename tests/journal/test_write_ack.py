"""What acknowledges a write: the journal, then (per `wait` and the policy's `write_ack`) the regions;
`X-Gateway-Ack` names each that confirmed it, and a region that does not apply in time makes the answer
`wait_timeout`, never a lost write."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import orjson
import pytest

from rgw.topology import Topology, local_topology
from tests.journal.ingest import create_collection, point, region_points, wait_converged

TOKEN = "ack-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BY_JOURNAL, BY_PRIMARY, BY_ALL = "by_journal", "by_primary", "by_all"
POLICIES = f"""
[policies.collections.{BY_PRIMARY}]
write_ack = "primary"

[policies.collections.{BY_ALL}]
write_ack = "all"
"""
SHORT_TIMEOUT_S = 1  # Qdrant's `timeout` parameter: how long a write may wait for the regions


@pytest.fixture(scope="module")
def acking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topology = local_topology(tmp_path_factory.mktemp("ack"), extra_config=POLICIES)
    topology.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    with topology:
        for name in (BY_JOURNAL, BY_PRIMARY, BY_ALL):
            create_collection(topology.gateway_url, name)
        yield topology


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as opened:
        yield opened


async def write(session: aiohttp.ClientSession, topology: Topology, collection: str, point_id: int,
                wait: bool, timeout: int | None = None) -> tuple[str, str]:
    """Upsert one point; (Qdrant's update status, X-Gateway-Ack)."""
    query = f"wait={str(wait).lower()}" + (f"&timeout={timeout}" if timeout is not None else "")
    async with session.put(f"{topology.gateway_url}/collections/{collection}/points?{query}",
                           json={"points": [point(point_id)]}) as resp:
        body = orjson.loads(await resp.read())
        assert resp.status == 200, body
        return body["result"]["status"], resp.headers["X-Gateway-Ack"]


async def replication(session: aiohttp.ClientSession, topology: Topology, region: str, action: str) -> None:
    async with session.post(f"{topology.gateway_url}/gateway/admin/regions/{region}/replication/{action}",
                            headers=AUTH) as resp:
        assert resp.status == 200, await resp.text()


def held_by(topology: Topology, region: str, collection: str) -> set[int]:
    return set(region_points(topology.store_url(region), collection))


async def test_default_policy_acks_from_the_journal_or_every_serving_region(
        acking: Topology, session: aiohttp.ClientSession) -> None:
    assert await write(session, acking, BY_JOURNAL, 1, wait=False) == ("acknowledged", "journal")
    assert await write(session, acking, BY_JOURNAL, 2, wait=True) == ("completed", "journal,primary,secondary")
    # wait=true answered only once both regions applied it: each store holds it now.
    assert 2 in held_by(acking, "primary", BY_JOURNAL) and 2 in held_by(acking, "secondary", BY_JOURNAL)


async def test_write_ack_primary_waits_for_the_primary_alone(acking: Topology,
                                                             session: aiohttp.ClientSession) -> None:
    await replication(session, acking, "secondary", "pause")
    try:
        # The paused secondary is not waited for: the primary's confirmation completes it, even without wait.
        assert await write(session, acking, BY_PRIMARY, 10, wait=False) == ("completed", "journal,primary")
        assert 10 in held_by(acking, "primary", BY_PRIMARY)
        assert 10 not in held_by(acking, "secondary", BY_PRIMARY)
    finally:
        await replication(session, acking, "secondary", "resume")
    await replication(session, acking, "primary", "pause")
    try:
        # The primary cannot confirm: durable in the journal, but the policy's wait timed out.
        assert await write(session, acking, BY_PRIMARY, 11, wait=False, timeout=SHORT_TIMEOUT_S) == \
            ("wait_timeout", "journal")
    finally:
        await replication(session, acking, "primary", "resume")
    await wait_converged(acking.gateway_url)
    assert {10, 11} <= held_by(acking, "primary", BY_PRIMARY) & held_by(acking, "secondary", BY_PRIMARY)


async def test_write_ack_all_waits_for_every_region(acking: Topology, session: aiohttp.ClientSession) -> None:
    assert await write(session, acking, BY_ALL, 20, wait=False) == ("completed", "journal,primary,secondary")
    assert 20 in held_by(acking, "secondary", BY_ALL)
    await replication(session, acking, "secondary", "pause")
    try:
        assert await write(session, acking, BY_ALL, 21, wait=False, timeout=SHORT_TIMEOUT_S) == \
            ("wait_timeout", "journal,primary")
    finally:
        await replication(session, acking, "secondary", "resume")
    await wait_converged(acking.gateway_url)
    assert 21 in held_by(acking, "secondary", BY_ALL)  # the timed-out write was durable all along


async def test_wait_true_answers_wait_timeout_when_a_serving_region_lags(acking: Topology,
                                                                         session: aiohttp.ClientSession) -> None:
    await replication(session, acking, "secondary", "pause")  # still serving reads, not applying
    try:
        assert await write(session, acking, BY_JOURNAL, 30, wait=True, timeout=SHORT_TIMEOUT_S) == \
            ("wait_timeout", "journal,primary")
        assert 30 not in held_by(acking, "secondary", BY_JOURNAL)
    finally:
        await replication(session, acking, "secondary", "resume")
    await wait_converged(acking.gateway_url)
    assert 30 in held_by(acking, "secondary", BY_JOURNAL)
