"""Bounded open-loop load through the gateway with real HTTP clients, recording every outcome.

Reads and writes are each sent on a fixed schedule (rate per second) whatever the gateway does,
so a slow or failing gateway cannot quietly lower the load it is measured under. Concurrency is
capped: a request due while every client is busy is shed and counted, never queued without bound.
Every read records its outcome, latency and provenance headers; every write whether (and at
which journal position) it was acknowledged, which is the promise the invariants later check.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import aiohttp
import orjson

from rgw.chaos.scenario import LoadSpec
from rgw.chaos.workload import LIMIT, Workload

REQUEST_TIMEOUT_S = 15.0  # above the gateway's own request timeout (10 s), so its 503 arrives first
JSON = {"Content-Type": "application/json"}
PRELOAD_BATCH = 256


@dataclass(slots=True)
class Read:
    start: float  # seconds since the load started
    end: float
    query: int  # index in the query pool
    via: str  # "query" (Qdrant's points/query) or "search" (the gateway's own endpoint)
    text: bool  # carried query text, so lexical could answer it
    filtered: bool = False  # carried a payload filter
    status: int | None = None  # None: no HTTP answer at all (refused, reset, timed out)
    source: str | None = None
    mode: str | None = None
    coverage: float | None = None
    staleness_s: float | None = None
    error: str | None = None
    hits: int | None = None  # points in the answer

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def short(self) -> bool:
        """A full answer (normal or failover) to an unfiltered query with fewer hits than it asked for:
        the collection always holds more, so some region answered from data it has lost."""
        return (self.ok and self.mode in ("normal", "failover") and not self.filtered
                and self.hits is not None and self.hits < LIMIT)

    @property
    def cache_key(self) -> tuple[int, str]:
        """Requests the gateway caches under one key: same pool entry, same endpoint (same bytes)."""
        return self.query, self.via


@dataclass(slots=True)
class Write:
    start: float
    end: float
    first_id: int
    count: int
    status: int | None = None
    lsn: int | None = None
    ack: str | None = None  # Qdrant's UpdateStatus: acknowledged, completed or wait_timeout
    error: str | None = None

    @property
    def acked(self) -> bool:
        # Every status the gateway answers 200 with means "durable in the journal".
        return self.status == 200 and self.ack in ("acknowledged", "completed", "wait_timeout")


@dataclass
class Recorder:
    reads: list[Read] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    shed_reads: int = 0
    shed_writes: int = 0
    preloaded: int = 0

    def acked_ids(self) -> list[int]:
        ids = list(range(self.preloaded))
        for w in self.writes:
            if w.acked:
                ids.extend(range(w.first_id, w.first_id + w.count))
        return ids

    def acked_points(self) -> int:
        return self.preloaded + sum(w.count for w in self.writes if w.acked)


class Clock:
    """Seconds since the load started; one clock for load, timeline and status samples."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def reset(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_text(body: bytes) -> str:
    try:
        text = str(orjson.loads(body)["status"]["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = body.decode(errors="replace")
    # A 503 names every source tried, in chain order: the last ones (lexical, cache) often decide.
    return text if len(text) <= 400 else f"{text[:150]} ... {text[-240:]}"


class LoadGenerator:
    def __init__(self, url: str, load: LoadSpec, workload: Workload, recorder: Recorder, clock: Clock,
                 seed: int = 11, headers: dict[str, str] | None = None) -> None:
        self._url = url
        self._headers = headers or {}  # the client's credential, when the gateway has [auth]
        self._load = load
        self._workload = workload
        self._rec = recorder
        self._clock = clock
        self._rng = random.Random(seed)
        self._next_id = load.preload
        self._busy = {"read": 0, "write": 0}

    async def run(self) -> None:
        """Send the load for load.duration_s; returns once every request sent has finished."""
        connector = aiohttp.TCPConnector(limit=self._load.clients + self._load.writers + 2)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=self._headers) as session:
            await asyncio.gather(
                self._paced("read", self._load.read_rate, self._load.clients, lambda: self._read(session)),
                self._paced("write", self._load.write_rate, self._load.writers, lambda: self._write(session)))

    async def _paced(self, kind: str, rate: float, limit: int, send: Callable[[], Awaitable[None]]) -> None:
        if rate <= 0:
            return
        end = self._load.duration_s
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while (due := n / rate) < end:
            n += 1
            await self._clock.sleep_until(due)
            if self._busy[kind] >= limit:
                if kind == "read":
                    self._rec.shed_reads += 1
                else:
                    self._rec.shed_writes += 1
                continue
            self._busy[kind] += 1
            task = asyncio.create_task(send())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def _read(self, session: aiohttp.ClientSession) -> None:
        collection = self._load.collection
        index = self._rng.randrange(len(self._workload.queries))
        query = self._workload.queries[index]
        text = self._rng.random() < self._load.text_share
        via = "search" if text and self._rng.random() < 0.5 else "query"
        if via == "search":
            url, body, headers = f"{self._url}/gateway/collections/{collection}/search", query.search_body, JSON
        else:
            url, body = f"{self._url}/collections/{collection}/points/query", query.query_body
            headers = {**JSON, "X-Gateway-Query-Text": quote(query.text)} if text else JSON
        read = Read(self._clock.now(), 0.0, index, via, text, query.filtered)
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                payload = await resp.read()
                read.status = resp.status
                read.source = resp.headers.get("X-Gateway-Source")
                read.mode = resp.headers.get("X-Gateway-Mode")
                read.coverage = _float(resp.headers.get("X-Gateway-Coverage"))
                read.staleness_s = _float(resp.headers.get("X-Gateway-Staleness"))
                if resp.status != 200:
                    read.error = f"HTTP {resp.status}: {_error_text(payload)}"
                else:
                    read.hits = len(orjson.loads(payload)["result"]["points"])
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            read.error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            read.end = self._clock.now()
            self._rec.reads.append(read)
            self._busy["read"] -= 1

    async def _write(self, session: aiohttp.ClientSession) -> None:
        count = self._load.write_batch
        first = self._next_id
        if first + count > self._workload.capacity:
            self._busy["write"] -= 1
            return  # the workload was sized for the schedule; never write past it
        self._next_id += count
        write = Write(self._clock.now(), 0.0, first, count)
        url = f"{self._url}/collections/{self._load.collection}/points?wait=false"
        try:
            async with session.put(url, data=self._workload.upsert_body(first, count), headers=JSON) as resp:
                payload = await resp.read()
                write.status = resp.status
                if resp.status == 200:
                    write.ack = orjson.loads(payload)["result"]["status"]
                    write.lsn = int(resp.headers["X-Gateway-LSN"])
                else:
                    write.error = f"HTTP {resp.status}: {_error_text(payload)}"
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError, ValueError) as exc:
            write.error = f"{type(exc).__name__}: {exc}"[:300]  # not acknowledged: no promise was made
        finally:
            write.end = self._clock.now()
            self._rec.writes.append(write)
            self._busy["write"] -= 1


async def preload(url: str, load: LoadSpec, workload: Workload, recorder: Recorder,
                  headers: dict[str, str] | None = None) -> None:
    """Create the collection and write load.preload points with wait=true, before the clock starts."""
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers or {}) as session:
        collection_url = f"{url}/collections/{load.collection}"
        body = {"vectors": {"size": workload.vectors.shape[1], "distance": "Cosine"}}
        async with session.put(collection_url, json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"creating {load.collection}: HTTP {resp.status}: {_error_text(await resp.read())}")
        for first in range(0, load.preload, PRELOAD_BATCH):
            count = min(PRELOAD_BATCH, load.preload - first)
            async with session.put(f"{collection_url}/points?wait=true", data=workload.upsert_body(first, count),
                                   headers=JSON) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"preload: HTTP {resp.status}: {_error_text(await resp.read())}")
            recorder.preloaded = first + count
