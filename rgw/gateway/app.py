"""Assembles the gateway from its parts and runs it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import uvloop
from aiohttp import web

from rgw import envelope
from rgw.auth.admin import admin_token
from rgw.backup.api import add_backup_routes
from rgw.backup.bundle import BundleStore
from rgw.backup.jobs import Jobs
from rgw.backup.parts import Parts
from rgw.backup.service import BackupService
from rgw.compiled import compiled_modules, stale_modules
from rgw.fallbacks.cache import ResultCache
from rgw.fallbacks.lexical import LexicalIndex
from rgw.fallbacks.lexical_feed import LexicalFeeder
from rgw.fallbacks.lexical_rebuild import RebuildProgress, reindex_from_region
from rgw.fallbacks.lexical_source import LexicalFallback
from rgw.gateway import admin, serve, status
from rgw.journal.log import SqliteJournal, journal_path
from rgw.journal.replication import Replication
from rgw.journal.schemas import SchemaBook
from rgw.journal.writer import JournalWriter
from rgw.proxy import api
from rgw.proxy.chain import ChainRouter
from rgw.regions.client import RegionClient
from rgw.regions.health import HealthBook, HealthChecker
from rgw.regions.routing import ReadRouter
from rgw.settings.config import GatewayConfig
from rgw.settings.operator import Operator

log = logging.getLogger("rgw.gateway")

class Gateway:
    """The running gateway's parts, wired together; created on startup, closed on cleanup."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.started_at = time.time()
        self.clients = [RegionClient(region) for region in config.regions]
        self.book = HealthBook([c.name for c in self.clients], config.outlier)
        self.checker = HealthChecker(self.clients, self.book, config.health)
        self.journal = SqliteJournal(journal_path(config.data_dir))
        self.replication = Replication(self.journal, self.clients,
                                       back_at=lambda region: self.book.regions[region].back_at)
        self.schemas = SchemaBook(self.clients)
        self.operator = Operator(config)
        self.cache = ResultCache()
        self.lexical = LexicalIndex(config.data_dir / "lexical", lambda c: self.operator.policy(c).text_field)
        self.lexical_feeder = LexicalFeeder(self.journal, self.lexical)
        self.replication.add_consumer("lexical", lambda: self.lexical_feeder.applied)
        self.reindex_jobs: dict[str, RebuildProgress | str] = {}
        self.backups = BackupService(Parts(
            {c.name: c for c in self.clients}, self.journal, self.replication, self.operator, self.book,
            BundleStore(config.data_dir / "backups"), Jobs(), config.data_dir))
        self.replication.add_consumer("backups", self.backups.journal_position)
        self._background: set[asyncio.Task[None]] = set()
        self.regions = ReadRouter(self.clients, self.book, config.routing, self.replication)
        self.reader = ChainRouter(self.regions, self.operator, self.cache, self.book,
                                  LexicalFallback(self.lexical_feeder))
        self.writer = JournalWriter(self.journal, self.replication, self.schemas, self.book, config,
                                    on_journaled=self.cache.invalidate)

    def start_reindex(self, collection: str, client: RegionClient, as_of: int) -> None:
        """Rebuild a collection's lexical index from a region in the background; progress in status."""
        self.reindex_jobs[collection] = RebuildProgress(collection, client.name, 0, None, False)

        def progress(update: RebuildProgress) -> None:
            self.reindex_jobs[collection] = update

        async def run() -> None:
            try:
                await reindex_from_region(self.lexical_feeder, client, collection, as_of, progress)
            except Exception as exc:  # reported in status, where the operator's command is watching
                log.exception("lexical reindex of %s failed", collection)
                self.reindex_jobs[collection] = f"failed: {exc}"

        self._background.add(task := asyncio.create_task(run(), name=f"reindex:{collection}"))
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        await asyncio.gather(*(self.checker.probe_once(c) for c in self.clients))
        await asyncio.gather(*(self.checker.refresh_collections(c) for c in self.clients))
        oldest_cursor = min(self.replication.applied(c.name) for c in self.clients)
        await self.schemas.load(self.journal, since=oldest_cursor)
        self.checker.start()
        self.replication.start()
        self.lexical_feeder.start()
        self.backups.start()
        log.info("journal at lsn %d; regions applied: %s", self.journal.head,
                 ", ".join(f"{c.name}={self.replication.applied(c.name)}" for c in self.clients))

    async def close(self) -> None:
        await self.backups.stop()
        await self.lexical_feeder.stop()
        self.lexical.close()
        await self.replication.stop()
        await self.checker.stop()
        await self.journal.close()
        for client in self.clients:
            client.close()


@web.middleware
async def never_crash(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Whatever a client sends, it gets an answer in Qdrant's error shape, and the gateway lives on."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return envelope.error(exc.status, f"{exc.reason}: {request.method} {request.path}")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return envelope.error(500, "Service internal error: the gateway failed on this request (logged)")


async def build_app(config: GatewayConfig) -> web.Application:
    """The gateway as an aiohttp application; must be called inside the running event loop."""
    app = web.Application(client_max_size=api.MAX_BODY_BYTES, middlewares=[never_crash])
    gateway = Gateway(config)
    status.add_status_route(app, gateway)
    admin.add_admin_routes(app, gateway, admin_token(config.admin_token))
    add_backup_routes(app, gateway.backups, admin_token(config.admin_token))
    api.add_routes(app, gateway.reader, gateway.writer)

    async def on_startup(app: web.Application) -> None:
        await gateway.start()
        regions = ", ".join(f"{r.name}={r.url}" for r in config.regions)
        log.info("gateway listening on http://%s, regions: %s", config.listen, regions)
        compiled = compiled_modules()
        log.info("read path: %s", f"compiled ({len(compiled)} modules)" if compiled else "pure Python (not compiled)")
        if stale := stale_modules():
            log.warning("compiled modules older than their sources, running the old code: %s (run make setup)",
                        ", ".join(stale))

    async def on_cleanup(app: web.Application) -> None:
        await gateway.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def run_gateway(config: GatewayConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvloop.install()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    serve.run_app(build_app(config), host=config.host, port=config.port, shutdown_timeout=5)
