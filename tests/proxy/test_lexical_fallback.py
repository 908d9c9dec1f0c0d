"""Lexical fallback through the gateway: text queries answered when no vector store can."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from urllib.parse import quote

import aiohttp
import orjson
from qdrant_client import models

from rgw import sample
from rgw.client import AsyncGatewayClient
from rgw.topology import Topology
from tests.journal.ingest import wait_converged
from tests.proxy.helpers import connect

COLLECTION = "articles"
TOKEN = "lexical-token"


def load_articles(url: str, count: int = 600) -> list[dict]:
    client = connect(url)
    client.create_collection(COLLECTION, vectors_config=models.VectorParams(size=sample.DIMENSIONS,
                                                                            distance=models.Distance.COSINE))
    docs = list(sample.articles(count))
    client.upsert(COLLECTION, wait=True, points=[
        models.PointStruct(id=i, vector=sample.embed(str(d["text"])), payload=d) for i, d in enumerate(docs)])
    client.close()
    return docs


async def wait_lexical(url: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(f"{url}/gateway/status") as resp:
                if orjson.loads(await resp.read())["lexical"]["lag_entries"] == 0:
                    return
            await asyncio.sleep(0.05)
    raise AssertionError("lexical index did not catch up")


async def test_text_query_answered_lexically_with_its_filter_when_regions_are_down(topology: Topology) -> None:
    docs = load_articles(topology.gateway_url)
    await wait_lexical(topology.gateway_url)
    for store in topology.stores.values():
        store.kill()
    text = "reset password"
    only_german = {"must": [{"key": "lang", "match": {"value": "de"}}]}
    async with AsyncGatewayClient(topology.gateway_url) as gateway:
        result = await gateway.search(COLLECTION, text=text, vector=sample.embed(text), filter=only_german, limit=5)
    assert (result.source, result.mode) == ("lexical", "lexical")
    assert result.hits, "no lexical hits"
    assert all(docs[int(h.id)]["lang"] == "de" for h in result.hits)
    texts = [str(docs[int(h.id)]["text"]).lower() for h in result.hits]
    assert all("password" in t or "reset" in t for t in texts)  # BM25: any query term matches
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)

    # The same through Qdrant's own API, with the text in a header.
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{topology.gateway_url}/collections/{COLLECTION}/points/query",
                                json={"query": sample.embed(text), "limit": 3, "filter": only_german},
                                headers={"X-Gateway-Query-Text": text}) as resp:
            assert resp.status == 200 and resp.headers["X-Gateway-Mode"] == "lexical"
            assert len((await resp.json())["result"]["points"]) == 3
        # A filter lexical mode cannot evaluate makes it decline, saying so; never unfiltered hits.
        async with session.post(f"{topology.gateway_url}/collections/{COLLECTION}/points/query",
                                json={"query": sample.embed(text), "limit": 3,
                                      "filter": {"must": [{"key": "text", "match": {"text": "password"}}]}},
                                headers={"X-Gateway-Query-Text": text}) as resp:
            assert resp.status == 503
            assert "lexical: declined" in (await resp.json())["status"]["error"]


async def test_lexical_index_survives_a_gateway_restart(topology: Topology) -> None:
    load_articles(topology.gateway_url, count=300)
    await wait_lexical(topology.gateway_url)
    topology.gateway.stop()
    for store in topology.stores.values():
        store.kill()
    topology.gateway.start()
    async with AsyncGatewayClient(topology.gateway_url) as gateway:
        result = await gateway.search(COLLECTION, text="customs form parcel", limit=3)
    assert result.mode == "lexical" and len(result.hits) == 3


async def lexical_ids(url: str, text: str, limit: int = 50) -> set[int]:
    """Ids the lexical source answers for `text` (the collection is forced to lexical mode)."""
    async with AsyncGatewayClient(url) as gateway:
        result = await gateway.search(COLLECTION, text=text, limit=limit)
    assert result.mode == "lexical", result
    return {int(h.id) for h in result.hits}


async def test_reindex_lexical_from_a_region(topology: Topology) -> None:
    docs = load_articles(topology.gateway_url, count=300)
    await wait_converged(topology.gateway_url)
    await wait_lexical(topology.gateway_url)
    topology.gateway.stop()
    topology.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    topology.gateway.start()
    env = {**os.environ, "RGW_ADMIN_TOKEN": TOKEN}

    # Behind the gateway's back, the secondary gains points the journal never saw and loses one it did:
    # only a reindex that really reads the region can make the index agree with it.
    unseen_text = "zanzibar quokka marmalade"
    unseen = range(1000, 1005)
    dropped = 7
    secondary = connect(topology.store_url("secondary"))
    secondary.upsert(COLLECTION, wait=True, points=[
        models.PointStruct(id=i, vector=sample.embed(unseen_text), payload={"text": f"{unseen_text} {i}"})
        for i in unseen])
    secondary.delete(COLLECTION, points_selector=models.PointIdsList(points=[dropped]), wait=True)
    secondary.close()
    dropped_text = str(docs[dropped]["title"])
    forced = subprocess.run([sys.executable, "-m", "rgw.cli", "mode", COLLECTION, "lexical",
                             "--gateway", topology.gateway_url], capture_output=True, text=True, timeout=30, env=env)
    assert forced.returncode == 0, forced.stderr
    assert await lexical_ids(topology.gateway_url, unseen_text) == set()
    assert dropped in await lexical_ids(topology.gateway_url, dropped_text, limit=300)

    result = subprocess.run([sys.executable, "-m", "rgw.cli", "reindex", "lexical", "--collection", COLLECTION,
                             "--from", "secondary", "--gateway", topology.gateway_url, "--json"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["indexed"] == len(docs) - 1 + len(unseen)
    assert await lexical_ids(topology.gateway_url, unseen_text) == set(unseen)
    assert dropped not in await lexical_ids(topology.gateway_url, dropped_text, limit=300)


async def test_percent_encoded_non_ascii_query_text_is_decoded(topology: Topology) -> None:
    client = connect(topology.gateway_url)
    client.create_collection("notes", vectors_config=models.VectorParams(size=sample.DIMENSIONS,
                                                                         distance=models.Distance.COSINE))
    texts = {1: "Grüße aus München", 2: "Smørrebrød in København", 3: "plain ascii words"}
    client.upsert("notes", wait=True, points=[models.PointStruct(id=i, vector=sample.embed(t), payload={"text": t})
                                              for i, t in texts.items()])
    client.close()
    await wait_lexical(topology.gateway_url)
    for store in topology.stores.values():
        store.kill()
    async with aiohttp.ClientSession() as session:
        for text, expected in (("münchen", 1), ("smørrebrød", 2), ("grüße", 1)):
            # Header values are ASCII: non-ASCII query text travels percent-encoded (UTF-8).
            async with session.post(f"{topology.gateway_url}/collections/notes/points/query",
                                    json={"query": sample.embed(text), "limit": 3},
                                    headers={"X-Gateway-Query-Text": quote(text)}) as resp:
                body = await resp.json()
                assert resp.status == 200 and resp.headers["X-Gateway-Mode"] == "lexical", body
                assert [p["id"] for p in body["result"]["points"]] == [expected], (text, body)
