"""The gateway answers Qdrant's API exactly as the store would, says who answered, and refuses garbage cleanly."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import aiohttp
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.common.version_check import get_server_version, is_compatible

from rgw.topology import Topology
from tests.proxy.helpers import DIM, connect, seed_collection

COLLECTION = "docs"


@pytest.fixture(scope="module")
def seeded(shared_topology: Topology) -> tuple[Topology, list[list[float]]]:
    vectors = seed_collection(shared_topology.gateway_url, COLLECTION)
    return shared_topology, vectors


def clients(topo: Topology) -> tuple[QdrantClient, QdrantClient, QdrantClient]:
    return connect(topo.gateway_url), connect(topo.store_url("primary")), connect(topo.store_url("secondary"))


def test_qdrant_client_accepts_the_gateway_version(seeded) -> None:
    topo, _ = seeded
    client_version = importlib.metadata.version("qdrant-client")
    for url in (topo.gateway_url, topo.store_url("primary")):
        server_version = get_server_version(url, {}, None, 5)
        assert server_version is not None and is_compatible(client_version, server_version), (url, server_version)


def test_writes_reach_both_regions(seeded) -> None:
    topo, vectors = seeded
    gateway, primary, secondary = clients(topo)
    assert gateway.collection_exists(COLLECTION)
    for client in (gateway, primary, secondary):
        assert client.count(COLLECTION, exact=True).count == len(vectors)
    assert gateway.get_collection(COLLECTION).config.params.vectors.size == DIM


def test_reads_equal_asking_the_store_directly(seeded) -> None:
    topo, vectors = seeded
    gateway, primary, _ = clients(topo)
    only_even = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value="even"))])
    for vector in vectors[:5]:
        for query_filter in (None, only_even):
            via_gateway = gateway.query_points(COLLECTION, query=vector, limit=7, query_filter=query_filter,
                                               with_payload=True)
            direct = primary.query_points(COLLECTION, query=vector, limit=7, query_filter=query_filter,
                                          with_payload=True)
            assert [(p.id, round(p.score, 5), p.payload) for p in via_gateway.points] == \
                   [(p.id, round(p.score, 5), p.payload) for p in direct.points]
            if query_filter is not None:
                assert all(p.payload["group"] == "even" for p in via_gateway.points)
    assert gateway.retrieve(COLLECTION, ids=[3, 4, 999], with_payload=True) == \
        primary.retrieve(COLLECTION, ids=[3, 4, 999], with_payload=True)
    page_gw, next_gw = gateway.scroll(COLLECTION, limit=50, offset=10, scroll_filter=only_even)
    page_direct, next_direct = primary.scroll(COLLECTION, limit=50, offset=10, scroll_filter=only_even)
    assert page_gw == page_direct and next_gw == next_direct
    assert gateway.count(COLLECTION, count_filter=only_even).count == len(vectors) // 2


async def test_legacy_search_route_equals_the_store(seeded) -> None:
    """`POST /points/search` (qdrant-client 1.20 no longer has `search`): sent as raw HTTP, so it is tested."""
    topo, vectors = seeded
    body = {"vector": vectors[0], "limit": 3, "with_payload": True}
    async with aiohttp.ClientSession() as session:
        answers = []
        for url in (topo.gateway_url, topo.store_url("primary")):
            async with session.post(f"{url}/collections/{COLLECTION}/points/search", json=body) as resp:
                assert resp.status == 200, await resp.text()
                if url == topo.gateway_url:
                    assert resp.headers["X-Gateway-Source"] == "primary"
                answers.append([(p["id"], round(p["score"], 5), p["payload"]) for p in (await resp.json())["result"]])
    via_gateway, direct = answers
    assert via_gateway == direct
    assert via_gateway[0][0] == 0 and len(via_gateway) == 3  # a point is its own nearest neighbour


async def test_every_answer_says_who_answered(seeded) -> None:
    topo, vectors = seeded
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{topo.gateway_url}/collections/{COLLECTION}/points/query",
                                json={"query": vectors[1], "limit": 3}) as resp:
            body = await resp.json()
            assert resp.status == 200
            assert body["result"]["points"][0]["id"] == 1
            assert resp.headers["X-Gateway-Source"] == "primary"
            assert resp.headers["X-Gateway-Mode"] == "normal"
            assert float(resp.headers["X-Gateway-Coverage"]) == 1.0
            assert float(resp.headers["X-Gateway-Staleness"]) == 0.0


@pytest.mark.parametrize(("method", "path", "body", "status", "needle"), [
    ("POST", f"/collections/{COLLECTION}/points/query", b'{"query": [0.1, 0.2', 400, "json"),
    ("POST", f"/collections/{COLLECTION}/points/query", b'{"query": [0.1, 0.2, 0.3]}', 400, "dimension"),
    ("PUT", f"/collections/{COLLECTION}/points?wait=true",
     b'{"points": [{"id": 1, "vector": [1.0, 2.0]}]}', 400, "dimension"),
    ("POST", "/collections/no_such_collection/points/query", b'{"query": [0.1]}', 404, "doesn't exist"),
    ("GET", "/collections/no_such_collection", None, 404, "doesn't exist"),
    ("POST", "/cluster/recover", b"{}", 404, "not served by the gateway"),
    ("GET", "/../../etc/passwd", None, 404, "not served"),
])
async def test_bad_input_gets_a_clean_4xx(seeded, method: str, path: str, body: bytes | None, status: int,
                                          needle: str) -> None:
    topo, _ = seeded
    async with aiohttp.ClientSession() as session:
        async with session.request(method, topo.gateway_url + path, data=body,
                                   headers={"content-type": "application/json"}) as resp:
            payload = await resp.json()
            assert resp.status == status, payload
            assert needle.lower() in payload["status"]["error"].lower()
        async with session.get(f"{topo.gateway_url}/readyz") as resp:
            assert resp.status == 200  # and the gateway is still there


async def test_oversized_body_is_refused_not_fatal(seeded) -> None:
    topo, _ = seeded
    big = b'{"points": [' + b"0," * (17 * 1024 * 1024) + b"0]}"
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{topo.gateway_url}/collections/{COLLECTION}/points", data=big,
                               headers={"content-type": "application/json"}) as resp:
            assert resp.status == 413
            assert "too large" in (await resp.json())["status"]["error"].lower()


def test_status_shows_regions_and_collections(seeded) -> None:
    topo, _ = seeded
    result = subprocess.run([sys.executable, "-m", "rgw.cli", "status", "--gateway", topo.gateway_url],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("primary") and "healthy" in line for line in lines), result.stdout
    assert any(line.startswith("secondary") and "healthy" in line for line in lines), result.stdout
    assert any(line.startswith(COLLECTION) and "ready" in line for line in lines), result.stdout
