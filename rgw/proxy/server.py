"""Assembles the gateway from its parts and runs it."""

from __future__ import annotations

import asyncio
import logging
import time

import uvloop
from aiohttp import web

from rgw.proxy import api, status
from rgw.proxy.config import GatewayConfig
from rgw.proxy.health import HealthBook, HealthChecker
from rgw.proxy.routing import Answer, FanOutWriter, ReadRouter
from rgw.proxy.upstream import RegionClient

log = logging.getLogger("rgw.gateway")

class Gateway:
    """The running gateway's parts, wired together; created on startup, closed on cleanup."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.started_at = time.time()
        self.clients = [RegionClient(region) for region in config.regions]
        self.book = HealthBook([c.name for c in self.clients], config.outlier)
        self.checker = HealthChecker(self.clients, self.book, config.health)
        self.reader = ReadRouter(self.clients, self.book, config.routing)
        self.writer = FanOutWriter(self.clients, self.book, config.routing)

    def after_write(self, method: str, path: str, collection: str | None, answer: Answer) -> None:
        """Keep the per-collection view in step with collections created and deleted through us."""
        if collection is None or answer.reply.status >= 300 or path.split("?")[0].count("/") != 2:
            return
        if method == "DELETE":
            self.book.collection_dropped(collection)
        elif method == "PUT":
            for attempt in answer.attempts:
                if attempt.outcome == "ok":
                    self.book.collection_present(attempt.region, collection)

    async def start(self) -> None:
        await asyncio.gather(*(self.checker.probe_once(c) for c in self.clients))
        await asyncio.gather(*(self.checker.refresh_collections(c) for c in self.clients))
        self.checker.start()

    async def close(self) -> None:
        await self.checker.stop()
        for client in self.clients:
            client.close()


async def build_app(config: GatewayConfig) -> web.Application:
    """The gateway as an aiohttp application; must be called inside the running event loop."""
    app = web.Application(client_max_size=api.MAX_BODY_BYTES, middlewares=[api.never_crash])
    gateway = Gateway(config)
    status.add_status_route(app, gateway)
    api.add_routes(app, gateway.reader, gateway.writer, gateway.after_write)

    async def on_startup(app: web.Application) -> None:
        await gateway.start()
        regions = ", ".join(f"{r.name}={r.url}" for r in config.regions)
        log.info("gateway listening on http://%s, regions: %s", config.listen, regions)

    async def on_cleanup(app: web.Application) -> None:
        await gateway.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def run_gateway(config: GatewayConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvloop.install()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    web.run_app(build_app(config), host=config.host, port=config.port, access_log=None, print=None,
                handle_signals=True, shutdown_timeout=5)
