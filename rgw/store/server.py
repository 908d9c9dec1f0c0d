"""The region store's HTTP server: aiohttp on uvloop speaking Qdrant's REST API.

Handlers raise; the error middleware here turns every failure into Qdrant's error response, with
the HTTP status each QdrantError carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import uvloop
from aiohttp import web

from rgw import QDRANT_API_VERSION, QDRANT_MAX_REQUEST_BYTES, envelope
from rgw.qdrant.errors import QdrantError, Unsupported
from rgw.store import collections_api, points_api, query_api, snapshots_api
from rgw.store.api import STORE, Handler, Store, api, store_of
from rgw.store.optimize import IndexBuilder, index_threshold
from rgw.store.registry import Registry
from rgw.store.snapshots import Snapshots

MAX_BODY_BYTES = QDRANT_MAX_REQUEST_BYTES
FLUSH_INTERVAL_SECONDS = 5.0  # Qdrant's default optimizers.flush_interval_sec

# Qdrant endpoints this store does not implement: they answer 501 naming the feature rather
# than 404, so nobody mistakes them for a typo.
UNSUPPORTED: list[tuple[str, str, str]] = [
    ("PATCH", "/collections/{name}", "collection update"),
    ("GET", "/snapshots", "full storage snapshots"),
    ("POST", "/snapshots", "full storage snapshots"),
    ("GET", "/snapshots/{snapshot}", "full storage snapshots"),
    ("DELETE", "/snapshots/{snapshot}", "full storage snapshots"),
    ("GET", "/collections/{name}/shards/{shard}/snapshots", "shard snapshots"),
    ("POST", "/collections/{name}/shards/{shard}/snapshots", "shard snapshots"),
    ("GET", "/collections/{name}/shards/{shard}/snapshot", "shard snapshots"),
    ("POST", "/collections/{name}/shards/{shard}/snapshots/upload", "shard snapshots"),
    ("PUT", "/collections/{name}/shards/{shard}/snapshots/recover", "shard snapshots"),
    ("GET", "/collections/{name}/shards/{shard}/snapshots/{snapshot}", "shard snapshots"),
    ("DELETE", "/collections/{name}/shards/{shard}/snapshots/{snapshot}", "shard snapshots"),
    ("GET", "/collections/{name}/shards", "shard keys"),
    ("PUT", "/collections/{name}/shards", "shard keys"),
    ("POST", "/collections/{name}/shards/delete", "shard keys"),
    ("GET", "/collections/{name}/cluster", "cluster operations"),
    ("POST", "/collections/{name}/cluster", "cluster operations"),
    ("POST", "/cluster/recover", "cluster operations"),
    ("DELETE", "/cluster/peer/{peer}", "cluster operations"),
    ("GET", "/collections/{name}/optimizations", "optimization progress"),
    ("GET", "/telemetry", "telemetry"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/issues", "issues"),
    ("DELETE", "/issues", "issues"),
    ("GET", "/quotas", "quotas"),
    ("PUT", "/quotas", "quotas"),
]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as Qdrant's `{"status": {"error": ...}, "time": ...}`; nothing crashes."""
    started = time.perf_counter()
    try:
        return await handler(request)
    except QdrantError as exc:
        return envelope.error(exc.status, exc.message, started)
    except web.HTTPException as exc:
        if exc.status == 404:
            message = f"Not found: no endpoint {request.method} {request.path}"
        elif exc.status == 405:
            message = f"Method {request.method} not allowed on {request.path}"
        else:
            message = exc.text or exc.reason
        return envelope.error(exc.status, message, started)
    except Exception as exc:
        store_of(request).log.exception("internal error on %s %s", request.method, request.path)
        return envelope.error(500, f"Service internal error: {exc}", started)


def unsupported(feature: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise Unsupported(feature)

    return handler


async def root(request: web.Request) -> web.StreamResponse:
    """Qdrant's VersionInfo (not enveloped), plus which region this is."""
    body = {"title": "qdrant - vector search engine", "version": QDRANT_API_VERSION, "commit": None,
            "region": store_of(request).name}
    return web.Response(body=orjson.dumps(body), content_type=envelope.JSON)


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="healthz check passed")


async def livez(request: web.Request) -> web.StreamResponse:
    return web.Response(text="livez check passed")


async def readyz(request: web.Request) -> web.StreamResponse:
    if store_of(request).registry.ready:
        return web.Response(text="all shards are ready")
    return web.Response(text="some shards are not ready", status=503)


@api
async def cluster(request: web.Request) -> object:
    return {"status": "disabled"}  # what a single-node Qdrant answers


async def _flush_periodically(store: Store) -> None:
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_SECONDS)
        for collection in store.registry:
            try:
                await collection.flush()
            except Exception:  # keep flushing the others, and this one next time
                store.log.exception("flush of %s failed", collection.name)


async def _load(store: Store) -> None:
    started = time.monotonic()
    await store.registry.load()
    store.log.info("region store %s ready: %d collections loaded in %.2fs (index threshold %d points)",
                   store.name, len(store.registry.names()), time.monotonic() - started, store.builder.threshold)
    store.builder.poke()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Load collections in the background (so /healthz answers and /readyz says when ready),
    flush periodically, and close everything cleanly on shutdown."""
    store = app[STORE]
    tasks = [asyncio.create_task(_load(store)), asyncio.create_task(_flush_periodically(store))]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await store.builder.stop()
    await store.registry.close()
    store.log.info("region store %s stopped", store.name)


def build_app(name: str, data_dir: Path) -> web.Application:
    log = logging.getLogger(f"rgw.store.{name}")
    registry = Registry(data_dir=data_dir, log=log)
    builder = IndexBuilder(index_threshold(), lambda: registry, log)
    snapshots = Snapshots(data_dir / "snapshots", registry, builder, log)
    store = Store(name=name, registry=registry, builder=builder, snapshots=snapshots, log=log)
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[STORE] = store
    app.cleanup_ctx.append(_lifecycle)
    r = app.router
    r.add_get("/", root)
    r.add_get("/healthz", healthz)
    r.add_get("/livez", livez)
    r.add_get("/readyz", readyz)
    r.add_get("/cluster", cluster)
    collections_api.add_routes(app)
    points_api.add_routes(app)
    query_api.add_routes(app)
    snapshots_api.add_routes(app)
    for method, path, feature in UNSUPPORTED:
        r.add_route(method, path, unsupported(feature))
    return app


def run_store(name: str, host: str, port: int, data_dir: str | Path) -> None:
    """`rgw store`: serve until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    logging.getLogger(f"rgw.store.{name}").info("region store %s starting on %s:%d, data %s", name, host, port, path)
    web.run_app(build_app(name, path), host=host, port=port, print=None, access_log=None)
