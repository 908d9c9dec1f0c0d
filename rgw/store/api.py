"""What every REST handler shares: the store's state, the response envelope, body parsing and
applying writes."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from rgw import envelope
from rgw.qdrant.errors import NotFound
from rgw.qdrant.fields import parse_body
from rgw.store.collection import Collection
from rgw.store.optimize import IndexBuilder
from rgw.store.registry import Registry
from rgw.store.snapshots import Snapshots
from rgw.store.writes import Write

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(eq=False)
class Store:
    name: str
    registry: Registry
    builder: IndexBuilder
    snapshots: Snapshots
    log: logging.Logger


STORE = web.AppKey("store", Store)


def api(fn: Callable[[web.Request], Awaitable[Any]]) -> Handler:
    """Wrap a handler that returns a result in Qdrant's `{"result", "status", "time"}` envelope.
    Failures are raised as QdrantError and shaped by the server's error middleware."""

    @functools.wraps(fn)
    async def handler(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        return envelope.ok(await fn(request), started)

    return handler


def store_of(request: web.Request) -> Store:
    return request.app[STORE]


def collection_of(request: web.Request) -> Collection:
    return store_of(request).registry.get(request.match_info["name"])


async def json_body(request: web.Request) -> Any:
    return parse_body(await request.read())


async def apply(request: web.Request, collection: Collection, writes: list[Write]) -> list[dict[str, Any]]:
    """Apply writes and answer Qdrant's UpdateResult for each. Writes are applied (and in the
    engine's WAL) before we answer, so `wait=false` gets the same `completed` as `wait=true`."""
    store = store_of(request)
    try:
        ids = await collection.write(writes)
    except NotFound:
        # Replaced (snapshot recovery) while this write waited: it goes to the new collection.
        current = await store.registry.settled(collection.name) if collection.closed else None
        if current is None or current is collection:
            raise
        ids = await current.write(writes)
    store.builder.poke()
    return [{"operation_id": op_id, "status": "completed"} for op_id in ids]
