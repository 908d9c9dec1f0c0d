"""GatewayClient (sync and async) over the gateway's own search endpoint: hits with provenance."""

from __future__ import annotations

import aiohttp
import pytest

from rgw.client import AsyncGatewayClient, GatewayClient, GatewayError
from rgw.topology import Topology
from tests.proxy.helpers import seed_collection

COLLECTION = "client_docs"


@pytest.fixture(scope="module")
def seeded(shared_topology: Topology) -> tuple[Topology, list[list[float]]]:
    return shared_topology, seed_collection(shared_topology.gateway_url, COLLECTION)


def test_sync_client_returns_hits_and_provenance(seeded) -> None:
    topo, vectors = seeded
    with GatewayClient(topo.gateway_url) as gateway:
        result = gateway.search(COLLECTION, vector=vectors[4], limit=3,
                                filter={"must": [{"key": "group", "match": {"value": "even"}}]})
    assert result.hits[0].id == 4
    assert all(h.payload["group"] == "even" for h in result.hits)
    assert (result.source, result.mode, result.coverage, result.staleness_s) == ("primary", "normal", 1.0, 0.0)


async def test_async_client_returns_the_same(seeded) -> None:
    topo, vectors = seeded
    async with AsyncGatewayClient(topo.gateway_url) as gateway:
        result = await gateway.search(COLLECTION, vector=vectors[9], limit=2, with_payload=False)
    assert result.hits[0].id == 9 and result.hits[0].payload is None
    assert result.source == "primary"


def test_client_raises_with_the_gateways_reason(seeded) -> None:
    topo, _ = seeded
    with GatewayClient(topo.gateway_url) as gateway:
        with pytest.raises(GatewayError) as refused:
            gateway.search(COLLECTION, vector=[0.1, 0.2], limit=3)
        assert refused.value.status == 400 and "dimension" in refused.value.message.lower()
        with pytest.raises(ValueError):
            gateway.search(COLLECTION)


@pytest.mark.parametrize(("body", "needle"), [
    (b"{", "format error"),
    (b"[]", "expected an object"),
    (b'{"limit": 3}', "give text, vector, or both"),
    (b'{"text": 5}', "text: wrong type"),
    (b'{"text": "x", "limit": true}', "limit: wrong type"),
    (b'{"text": "x", "colour": "red"}', "unknown field"),
])
async def test_search_endpoint_names_what_is_wrong(seeded, body: bytes, needle: str) -> None:
    topo, _ = seeded
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{topo.gateway_url}/gateway/collections/{COLLECTION}/search", data=body) as resp:
            assert resp.status == 400
            assert needle in (await resp.json())["status"]["error"].lower()
