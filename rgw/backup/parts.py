"""What backup, restore, rebuild and drill jobs work with: the gateway's regions, journal and routing state."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rgw.backup.bundle import BundleStore
from rgw.backup.jobs import Jobs
from rgw.journal.log import Journal
from rgw.journal.replication import Replication
from rgw.journal.scan import rest_call
from rgw.qdrant.names import collection_path
from rgw.regions.client import RegionClient, UpstreamError
from rgw.regions.health import HealthBook
from rgw.settings.config import AuthConfig
from rgw.settings.operator import Operator

REQUEST_TIMEOUT_S = 120.0


class JobFailed(Exception):
    """A job cannot go on; the message says why and what to do."""


@dataclass
class Parts:
    clients: dict[str, RegionClient]
    journal: Journal
    replication: Replication
    operator: Operator
    book: HealthBook
    bundles: BundleStore
    jobs: Jobs
    data_dir: Path
    auth: AuthConfig | None = None  # who may read and write what: bundles carry it (rgw.auth.rules)

    def client(self, region: str) -> RegionClient:
        client = self.clients.get(region)
        if client is None:
            raise JobFailed(f"no region named {region!r} (have {', '.join(self.clients)})")
        return client

    def fresh_regions(self, collection: str, exclude: str | None = None) -> list[RegionClient]:
        """Regions, in configured order, that serve `collection` and have applied every write to it."""
        now = time.monotonic()
        required = self.replication.required(collection)
        return [c for c in self.clients.values()
                if c.name != exclude and self.book.regions[c.name].serves(collection, now)
                and self.replication.applied(c.name, collection) >= required]


async def call(client: RegionClient, method: str, path: str, body: Any = None) -> Any:
    """One Qdrant REST call to a region; its `result`, or JobFailed naming the region and the error."""
    try:
        status, result = await rest_call(client, method, path, body, REQUEST_TIMEOUT_S)
    except UpstreamError as exc:
        raise JobFailed(f"{client.name} is unreachable: {exc}") from exc
    if status >= 300:
        raise JobFailed(f"{client.name}: {method} {path}: HTTP {status}: {result}")
    return result


async def exact_count(client: RegionClient, collection: str) -> int:
    result = await call(client, "POST", collection_path(collection, "points", "count"), {"exact": True})
    return int(result["count"])


async def exists(client: RegionClient, collection: str) -> bool:
    result = await call(client, "GET", collection_path(collection, "exists"))
    return bool(result["exists"])
