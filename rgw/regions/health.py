"""What the gateway believes about each region: active checks, collections, outliers, latency.

Modelled on Envoy: an active checker with healthy/unhealthy thresholds, passive outlier
detection on consecutive errors with an ejection time that grows with each ejection, and a
successful active check that un-ejects (half-open: the next failure ejects again at once).
Every check interval the checker also counts the points of the collections traffic reads on each
region, so a copy that silently lost its data stops answering within about one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from rgw.qdrant.names import collection_path
from rgw.regions.client import RegionClient, UpstreamError
from rgw.settings.config import HealthCheck, OutlierDetection

log = logging.getLogger("rgw.health")

# Collections a region has that we look at closely; bounded so 10k collections stay cheap.
MAX_WATCHED_COLLECTIONS = 256
# Copies counted per region per check interval: every copy each interval while few collections are
# read, in turn beyond that, so the cost stays bounded (8 cheap counts per region per 0.25 s at most).
COUNTS_PER_ROUND = 8
# Qdrant's approximate count: from segment sizes, without reading points.
_APPROXIMATE_COUNT = orjson.dumps({"exact": False})


class LatencyWindow:
    """Recent request latencies of one region, with percentiles recomputed every few samples."""

    # Sorting the window is the costly part of recording a request: every 128 samples keeps the
    # hedge delay current (a fraction of a second at any real load) for little CPU per request.
    def __init__(self, size: int = 512, refresh_every: int = 128) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._refresh_every = refresh_every
        self._since_refresh = 0
        self.p50 = 0.0
        self.p99 = 0.0

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._since_refresh += 1
        if self._since_refresh >= self._refresh_every or len(self._samples) < self._refresh_every:
            self._refresh()

    def _refresh(self) -> None:
        self._since_refresh = 0
        ordered = sorted(self._samples)
        self.p50 = ordered[len(ordered) // 2]
        self.p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    @property
    def count(self) -> int:
        return len(self._samples)


# A copy holding less than this share of the points another region holds, and at least SHORT_MIN_GAP
# fewer, has lost data (emptied, restored from an old snapshot...): it is not served as a whole answer.
# Lag alone rarely comes near that, and a lagging region is ordered after fresh ones anyway.
SHORT_SHARE = 0.5
SHORT_MIN_GAP = 100


@dataclass
class CollectionState:
    present: bool
    status: str | None = None  # Qdrant's green / yellow / grey / red
    points_count: int | None = None
    seen_at: float = 0.0
    short_of: tuple[int, str] | None = None  # (points, region): another region holds far more points

    @property
    def ready(self) -> bool:
        return self.present and self.status != "red" and self.short_of is None


@dataclass
class RegionHealth:
    name: str
    # Active checks. None until the first check: treated as usable, so a fresh gateway serves at once.
    active_healthy: bool | None = None
    consecutive_ok: int = 0
    consecutive_fail: int = 0
    last_check_at: float = 0.0
    last_error: str | None = None
    # Passive outlier detection.
    consecutive_errors: int = 0
    ejections: int = 0
    ejected_until: float = 0.0
    half_open: bool = False
    # Traffic.
    requests_ok: int = 0
    requests_failed: int = 0
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    collections: dict[str, CollectionState] = field(default_factory=dict)
    collections_listed_at: float = 0.0
    back_at: float = 0.0  # monotonic time its active checks last turned healthy after failing

    def ejected(self, now: float) -> bool:
        return now < self.ejected_until

    def usable(self, now: float) -> bool:
        return self.active_healthy is not False and not self.ejected(now)

    def serves(self, collection: str | None, now: float) -> bool:
        """Usable for this collection: region up, and the collection not known missing or failed."""
        if not self.usable(now):
            return False
        if collection is None:
            return True
        state = self.collections.get(collection)
        return state is None or state.ready

    def state(self, now: float) -> str:
        if self.ejected(now):
            return "ejected"
        if self.active_healthy is False:
            return "unhealthy"
        if self.active_healthy is None:
            return "unknown"
        return "half-open" if self.half_open else "healthy"


class HealthBook:
    """Every region's health, updated by the checker and by the outcome of real requests."""

    def __init__(self, names: list[str], outlier: OutlierDetection,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.regions: dict[str, RegionHealth] = {n: RegionHealth(n) for n in names}
        self._outlier = outlier
        self.clock = clock  # monotonic seconds; tests drive a virtual one
        self._watched: dict[str, None] = {}  # insertion-ordered set, most recent last

    def watch(self, collection: str) -> None:
        """Remember a collection that traffic asks for, so the checker inspects it on every region."""
        if collection in self._watched:
            return
        self._watched[collection] = None
        if len(self._watched) > MAX_WATCHED_COLLECTIONS:
            forgotten = next(iter(self._watched))
            self._watched.pop(forgotten)
            # What traffic alone taught us about a name no region lists goes with it: clients may ask
            # for any number of names that do not exist, and status must stay small.
            for health in self.regions.values():
                state = health.collections.get(forgotten)
                if state is not None and not state.present:
                    del health.collections[forgotten]

    @property
    def watched(self) -> list[str]:
        return list(self._watched)

    # -- outcomes of real requests -------------------------------------------------------
    def record_success(self, name: str, seconds: float) -> None:
        health = self.regions[name]
        health.requests_ok += 1
        health.latency.add(seconds)
        health.consecutive_errors = 0
        if health.half_open:
            health.half_open = False
            log.info("region %s: half-open probe succeeded, back in rotation", name)
        elif health.ejections and self.clock() - health.ejected_until > self._outlier.max_ejection_s:
            health.ejections = 0  # a long clean run forgets past ejections, as Envoy decays them

    def record_failure(self, name: str, reason: str) -> None:
        health = self.regions[name]
        health.requests_failed += 1
        health.consecutive_errors += 1
        health.last_error = reason
        now = self.clock()
        if health.ejected(now):
            return
        if health.half_open or health.consecutive_errors >= self._outlier.consecutive_errors:
            self._eject(health, now, reason)

    def collection_missing(self, name: str, collection: str) -> None:
        if collection not in self._watched and collection not in self.regions[name].collections:
            return  # a name nobody watches: nothing to remember
        self.regions[name].collections[collection] = CollectionState(present=False, seen_at=self.clock())

    def collection_present(self, name: str, collection: str) -> None:
        state = self.regions[name].collections.get(collection)
        if state is None or not state.present:
            self.regions[name].collections[collection] = CollectionState(present=True, seen_at=self.clock())

    def collection_dropped(self, collection: str) -> None:
        for health in self.regions.values():
            health.collections.pop(collection, None)
        self._watched.pop(collection, None)

    def _eject(self, health: RegionHealth, now: float, reason: str) -> None:
        health.ejections += 1
        duration = min(self._outlier.base_ejection_s * health.ejections, self._outlier.max_ejection_s)
        health.ejected_until = now + duration
        health.half_open = False
        health.consecutive_errors = 0
        log.warning("region %s: ejected for %.1fs (ejection #%d): %s", health.name, duration,
                    health.ejections, reason)

    # -- active checks ---------------------------------------------------------------------
    def record_check(self, name: str, ok: bool, error: str | None, config: HealthCheck) -> None:
        health = self.regions[name]
        health.last_check_at = self.clock()
        if ok:
            health.consecutive_ok += 1
            health.consecutive_fail = 0
            if health.active_healthy is None or (
                not health.active_healthy and health.consecutive_ok >= config.healthy_threshold
            ):
                if health.active_healthy is False:
                    health.back_at = health.last_check_at
                    log.info("region %s: healthy again", name)
                health.active_healthy = True
                health.last_error = None
            if health.ejected(health.last_check_at):
                # Envoy's successful_active_health_check_uneject_host: back, but on probation.
                health.ejected_until = 0.0
                health.half_open = True
                log.info("region %s: active check passed, un-ejected (half-open)", name)
        else:
            health.consecutive_fail += 1
            health.consecutive_ok = 0
            health.last_error = error
            if health.active_healthy is not False and (
                health.active_healthy is None or health.consecutive_fail >= config.unhealthy_threshold
            ):
                log.warning("region %s: unhealthy: %s", name, error)
                health.active_healthy = False

    def record_listing(self, name: str, collections: set[str]) -> None:
        health = self.regions[name]
        now = self.clock()
        health.collections_listed_at = now
        for collection in collections:
            self.collection_present(name, collection)
        for collection in list(health.collections):
            if collection not in collections:
                health.collections[collection] = CollectionState(present=False, seen_at=now)

    def record_collection_info(self, name: str, collection: str, info: dict[str, Any]) -> None:
        previous = self.regions[name].collections.get(collection)
        self.regions[name].collections[collection] = CollectionState(
            present=True, status=info.get("status"), points_count=info.get("points_count"),
            seen_at=self.clock(), short_of=previous.short_of if previous is not None else None)
        self._compare_counts(collection)  # logs only when a copy turns short or whole again

    def record_points(self, name: str, collection: str, points: int) -> None:
        """A fresh count of the region's copy (between two full inspections): compared at once."""
        state = self.regions[name].collections.get(collection)
        if state is None or not state.present:
            state = self.regions[name].collections[collection] = CollectionState(present=True)
        state.points_count = points
        state.seen_at = self.clock()
        self._compare_counts(collection)

    def _compare_counts(self, collection: str) -> None:
        """Mark each region's copy that holds far fewer points than another region's (SHORT_SHARE)."""
        counts = {name: state.points_count for name, h in self.regions.items()
                  if (state := h.collections.get(collection)) is not None and state.points_count is not None}
        for name, count in counts.items():
            best = max(((n, r) for r, n in counts.items() if r != name), default=None)
            short_of = None
            if best is not None and count < SHORT_SHARE * best[0] and best[0] - count >= SHORT_MIN_GAP:
                short_of = best
            state = self.regions[name].collections[collection]
            if short_of is not None and state.short_of is None:
                log.warning("region %s: %s holds %d points, %s holds %d: not served as a whole answer",
                            name, collection, count, short_of[1], short_of[0])
            elif short_of is None and state.short_of is not None:
                log.info("region %s: %s holds %d points again: served", name, collection, count)
            state.short_of = short_of


class HealthChecker:
    """Background tasks that probe each region and refresh what collections it holds."""

    def __init__(self, clients: list[RegionClient], book: HealthBook, config: HealthCheck) -> None:
        self._clients = clients
        self._book = book
        self._config = config
        self._tasks: list[asyncio.Task[None]] = []
        self._next_counted: dict[str, int] = {}  # per region: where the next round of counts starts

    def start(self) -> None:
        for client in self._clients:
            self._tasks.append(asyncio.create_task(self._probe_loop(client), name=f"probe:{client.name}"))
            self._tasks.append(asyncio.create_task(self._collections_loop(client),
                                                   name=f"collections:{client.name}"))
            self._tasks.append(asyncio.create_task(self._counts_loop(client), name=f"counts:{client.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def probe_once(self, client: RegionClient) -> None:
        try:
            reply = await client.send("GET", self._config.path, None, self._config.timeout_s)
            ok = reply.status == 200
            error = None if ok else f"{self._config.path} answered {reply.status}"
        except UpstreamError as exc:
            ok, error = False, str(exc)
        self._book.record_check(client.name, ok, error, self._config)

    async def _probe_loop(self, client: RegionClient) -> None:
        while True:
            started = time.monotonic()
            await self.probe_once(client)
            await asyncio.sleep(max(0.0, self._config.interval_s - (time.monotonic() - started)))

    async def refresh_collections(self, client: RegionClient) -> None:
        health = self._book.regions[client.name]
        if health.active_healthy is False:
            return
        timeout = self._config.timeout_s
        try:
            reply = await client.send("GET", "/collections", None, timeout)
            if reply.status != 200:
                return
            listed = {c["name"] for c in orjson.loads(reply.body)["result"]["collections"]}
            self._book.record_listing(client.name, listed)
            for collection in self._book.watched:
                if collection not in listed:
                    continue
                reply = await client.send("GET", collection_path(collection), None, timeout)
                if reply.status == 200:
                    self._book.record_collection_info(client.name, collection, orjson.loads(reply.body)["result"])
        except (UpstreamError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.debug("region %s: collection refresh failed: %s", client.name, exc)

    async def _collections_loop(self, client: RegionClient) -> None:
        while True:
            await self.refresh_collections(client)
            await asyncio.sleep(self._config.collections_interval_s)

    async def count_points(self, client: RegionClient) -> None:
        """Count up to COUNTS_PER_ROUND of the watched collections' copies on this region."""
        if not self._book.regions[client.name].usable(self._book.clock()):
            return
        watched = self._book.watched
        if len(watched) > COUNTS_PER_ROUND:
            start = self._next_counted.get(client.name, 0) % len(watched)
            self._next_counted[client.name] = start + COUNTS_PER_ROUND
            watched = (watched[start:] + watched[:start])[:COUNTS_PER_ROUND]
        await asyncio.gather(*(self._count(client, collection) for collection in watched))

    async def _count(self, client: RegionClient, collection: str) -> None:
        try:
            reply = await client.send("POST", collection_path(collection, "points", "count"),
                                      _APPROXIMATE_COUNT, self._config.timeout_s)
            if reply.status == 200:  # a missing collection is the listing's (and the reads') business
                self._book.record_points(client.name, collection, int(orjson.loads(reply.body)["result"]["count"]))
        except (UpstreamError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.debug("region %s: counting %s failed: %s", client.name, collection, exc)

    async def _counts_loop(self, client: RegionClient) -> None:
        while True:
            started = time.monotonic()
            await self.count_points(client)
            await asyncio.sleep(max(0.0, self._config.interval_s - (time.monotonic() - started)))
