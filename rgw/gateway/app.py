"""The gateway's parts, assembled: regions, health, journal, replication, fallbacks, backups, routing."""

from __future__ import annotations

import asyncio
import logging
import time

from rgw.auth.admin import admin_token
from rgw.backup.bundle import BundleStore
from rgw.backup.jobs import Jobs
from rgw.backup.parts import Parts
from rgw.backup.service import BackupService
from rgw.fallbacks.cache import ResultCache
from rgw.fallbacks.lexical import LexicalIndex
from rgw.fallbacks.lexical_feed import LexicalFeeder
from rgw.fallbacks.lexical_rebuild import RebuildProgress, reindex_from_region
from rgw.fallbacks.lexical_source import LexicalFallback
from rgw.journal.log import SqliteJournal, journal_path
from rgw.journal.replication import Replication
from rgw.journal.schemas import SchemaBook
from rgw.journal.writer import JournalWriter
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
        self.admin_token = admin_token(config.admin_token)
        self.clients = [RegionClient(region, max_response_bytes=config.limits.max_response_bytes)
                        for region in config.regions]
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
            BundleStore(config.data_dir / "backups"), Jobs(), config.data_dir, config.auth))
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
