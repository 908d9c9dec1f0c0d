"""Small helpers the gateway tests share: seeding data and streaming queries with provenance."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from qdrant_client import QdrantClient, models

from rgw.chaos.faultproxy import FaultProxy
from rgw.procs import free_port, store_process
from rgw.topology import Topology, local_topology

DIM = 8


def connect(url: str, timeout: int = 30) -> QdrantClient:
    """A REST qdrant-client; its version check (a background thread) is tested once, explicitly."""
    return QdrantClient(url=url, prefer_grpc=False, timeout=timeout, check_compatibility=False)


def seed_collection(url: str, name: str, points: int = 200, seed: int = 1) -> list[list[float]]:
    """Create `name` at url (gateway or store) with `points` random 8-d points; return the vectors."""
    rng = random.Random(seed)
    vectors = [[rng.uniform(-1, 1) for _ in range(DIM)] for _ in range(points)]
    client = connect(url)
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    client.upsert(name, wait=True, points=[
        models.PointStruct(id=i, vector=v, payload={"n": i, "group": "even" if i % 2 == 0 else "odd",
                                                    "text": f"document number {i}"})
        for i, v in enumerate(vectors)])
    client.close()
    return vectors


@dataclass
class Outcome:
    at: float
    status: int | None  # None: the request itself failed
    source: str | None
    mode: str | None
    seconds: float
    error: str | None = None


class QueryStream:
    """Sends queries back to back through the gateway (bounded in count and time), recording each outcome."""

    def __init__(self, url: str, collection: str, vector: list[float], max_requests: int = 5000,
                 max_seconds: float = 60.0, timeout: float = 10.0) -> None:
        self.url = f"{url}/collections/{collection}/points/query"
        self.body = {"query": vector, "limit": 5}
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[Outcome]:
        self._stop.set()
        assert self._task is not None
        await self._task
        return self.outcomes

    async def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stop.is_set() and len(self.outcomes) < self.max_requests and time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    async with session.post(self.url, json=self.body) as resp:
                        await resp.read()
                        self.outcomes.append(Outcome(started, resp.status, resp.headers.get("X-Gateway-Source"),
                                                     resp.headers.get("X-Gateway-Mode"), time.monotonic() - started))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.outcomes.append(Outcome(started, None, None, None, time.monotonic() - started, repr(exc)))

    async def wait_for(self, predicate, timeout: float, what: str) -> None:
        """Poll until predicate(outcomes) holds; fail naming `what` after timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.outcomes):
                return
            if self._task is not None and self._task.done():
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {self.outcomes[-3:]}")


def answered_by(region: str, since: float, count: int):
    """Predicate: at least `count` successful answers from `region` started after `since`."""
    def holds(outcomes: list[Outcome]) -> bool:
        return sum(1 for o in outcomes if o.at >= since and o.status == 200 and o.source == region) >= count

    return holds


@contextlib.asynccontextmanager
async def behind_fault_proxy(base: Path, region: str = "primary",
                             extra_config: str = "") -> AsyncIterator[tuple[Topology, FaultProxy]]:
    """Two regions and the gateway, started; the gateway reaches `region` through a fault proxy running in
    this test's event loop (so the test switches faults directly). Everything is stopped on exit."""
    listen = free_port()
    topology = local_topology(base, store_ports={region: listen}, extra_config=extra_config)
    real = free_port()
    topology.stores[region] = store_process(region, real, topology.base / "regions" / region, topology.base / "logs")
    proxy = FaultProxy(region, f"127.0.0.1:{listen}", f"127.0.0.1:{real}")
    await proxy.start()
    try:
        await asyncio.to_thread(topology.start)  # the proxy keeps forwarding meanwhile
        try:
            yield topology, proxy
        finally:
            await asyncio.to_thread(topology.stop)
    finally:
        await proxy.stop()


async def region_status(url: str, region: str) -> dict:
    """The gateway's view of one region (`GET /gateway/status`)."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}/gateway/status") as resp:
        return next(r for r in orjson.loads(await resp.read())["regions"] if r["name"] == region)
