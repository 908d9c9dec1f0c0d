"""A lexical answer's coverage is the share of the collection's points that have words to be found by."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from qdrant_client import models

from rgw.client import AsyncGatewayClient
from rgw.topology import Topology, local_topology
from tests.proxy.helpers import DIM, connect
from tests.proxy.test_lexical_fallback import wait_lexical

COLLECTION = "notes"
TOKEN = "coverage-token"
WORDLESS: list[dict[str, Any]] = [{}, {"title": "text elsewhere"}, {"text": ""}, {"text": "!!! ???"},
                                  {"text": 5}, {"text": []}, {"text": "x" * 60}, {"text": None}, {"text": " "},
                                  {"text": ["...", "--"]}]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Topology]:
    topo = local_topology(tmp_path / "topology", regions=("primary",))
    topo.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    with topo:
        yield topo


async def test_a_lexical_answer_covers_the_points_with_words(gateway: Topology) -> None:
    client = connect(gateway.gateway_url)
    client.create_collection(COLLECTION, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    payloads = [{"text": f"note {i} about refunds"} for i in range(30)] + WORDLESS
    client.upsert(COLLECTION, wait=True, points=[models.PointStruct(id=i, vector=[1.0] * DIM, payload=p)
                                                 for i, p in enumerate(payloads)])
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gateway.gateway_url}/gateway/admin/collections/{COLLECTION}/mode",
                                json={"source": "lexical"}, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 200
        await wait_lexical(gateway.gateway_url)
        async with session.post(f"{gateway.gateway_url}/collections/{COLLECTION}/points/query",
                                json={"query": [1.0] * DIM, "limit": 3},
                                headers={"X-Gateway-Query-Text": "refunds"}) as resp:
            assert resp.status == 200 and resp.headers["X-Gateway-Mode"] == "lexical"
            worded = {i for i, p in enumerate(payloads) if p not in WORDLESS}
            assert float(resp.headers["X-Gateway-Coverage"]) == pytest.approx(len(worded) / len(payloads), abs=1e-4)

    # Writes move it: two wordless points get words, five worded points go.
    given_words, deleted = [30, 31], [0, 1, 2, 3, 4]
    client.set_payload(COLLECTION, payload={"text": "now with words"}, points=given_words, wait=True)
    client.delete(COLLECTION, points_selector=models.PointIdsList(points=deleted), wait=True)
    client.close()
    worded = (worded | set(given_words)) - set(deleted)
    await wait_lexical(gateway.gateway_url)
    async with AsyncGatewayClient(gateway.gateway_url) as gw:
        result = await gw.search(COLLECTION, text="words refunds", limit=50)
    assert result.mode == "lexical"
    assert {int(h.id) for h in result.hits} == worded  # every worded point holds "refunds" or "words"
    assert result.coverage == pytest.approx(len(worded) / (len(payloads) - len(deleted)), abs=1e-4)
