"""Bounded ingest through the gateway, recording exactly which writes were acknowledged."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

from tests.proxy.helpers import DIM, connect


def point(i: int, version: int = 0) -> dict:
    rng = random.Random(i * 7919 + version)
    return {"id": i, "vector": [rng.uniform(-1, 1) for _ in range(DIM)],
            "payload": {"n": i, "version": version, "text": f"document {i} version {version}"}}


@dataclass
class Ingest:
    url: str
    collection: str
    total: int
    batch: int = 200
    writers: int = 4
    acked: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    max_seconds: float = 120.0

    async def run(self) -> None:
        batches = iter(range(0, self.total, self.batch))
        deadline = time.monotonic() + self.max_seconds
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async def writer() -> None:
                for start in batches:
                    if time.monotonic() > deadline:
                        return
                    ids = range(start, min(start + self.batch, self.total))
                    body = orjson.dumps({"points": [point(i) for i in ids]})
                    try:
                        async with session.put(f"{self.url}/collections/{self.collection}/points?wait=false",
                                               data=body, headers={"content-type": "application/json"}) as resp:
                            text = await resp.read()
                            if resp.status == 200:
                                self.acked.update(ids)
                            else:
                                self.failures.append(f"HTTP {resp.status}: {text[:200]!r}")
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        self.failures.append(repr(exc))  # not acknowledged: no promise was made

            await asyncio.gather(*(writer() for _ in range(self.writers)))

    async def wait_acked(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} of {count} writes acknowledged"
            await asyncio.sleep(0.02)


def create_collection(url: str, name: str) -> None:
    from qdrant_client import models

    client = connect(url)
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.close()


def region_points(url: str, collection: str) -> dict[int, tuple[dict, list[float]]]:
    """Every point a region holds, read from the region directly: id -> (payload, vector)."""
    client = connect(url)
    out: dict[int, tuple[dict, list[float]]] = {}
    offset = None
    while True:
        records, offset = client.scroll(collection, limit=2000, offset=offset, with_payload=True, with_vectors=True)
        for record in records:
            out[int(record.id)] = (record.payload or {}, list(record.vector or []))
        if offset is None:
            break
    client.close()
    return out


async def gateway_status(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/gateway/status") as resp:
        return orjson.loads(await resp.read())


async def wait_converged(url: str, timeout: float = 60) -> dict:
    """Poll until every region has applied the whole journal; returns the final status."""
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        try:
            status = await gateway_status(url)
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
            continue
        if all(r["replication"]["lag_entries"] == 0 for r in status["regions"]):
            return status
        await asyncio.sleep(0.1)
    lags = {r["name"]: r["replication"]["lag_entries"] for r in status.get("regions", [])}
    raise AssertionError(f"regions did not converge within {timeout}s: lag {lags}")
