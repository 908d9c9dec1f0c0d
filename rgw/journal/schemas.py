"""What each collection looks like (vector names and sizes), so writes are checked before journaling.

Collections created through the gateway are known from their journaled create; others are
learnt from the first region that describes them, and re-learnt after a while in case they
were changed behind the gateway's back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from rgw.journal.log import Journal
from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.names import collection_path
from rgw.regions.client import RegionClient, UpstreamError

LEARNT_TTL_S = 60.0
ABSENT_TTL_S = 1.0
COLLECTION_OPS = ("create_collection", "delete_collection")


@dataclass(frozen=True, slots=True)
class Known:
    spec: CollectionSpec | None  # None: known not to exist
    until: float  # monotonic deadline; inf for what the journal itself says


class SchemasUnavailable(Exception):
    """No region could be asked what the collection looks like."""


class SchemaBook:
    def __init__(self, clients: list[RegionClient], request_timeout: float = 2.0) -> None:
        self._clients = clients
        self._timeout = request_timeout
        self._known: dict[str, Known] = {}

    async def load(self, journal: Journal, since: int) -> None:
        """Replay journaled creates and deletes after `since`: acknowledged, maybe not yet applied."""
        for entry in await journal.read_ops(COLLECTION_OPS, after=since):
            if entry.op == "create_collection":
                self.created(entry.collection, CollectionSpec.parse(orjson.loads(entry.body or b"{}")))
            else:
                self.deleted(entry.collection)

    def created(self, collection: str, spec: CollectionSpec) -> None:
        self._known[collection] = Known(spec, float("inf"))

    def deleted(self, collection: str) -> None:
        self._known[collection] = Known(None, float("inf"))

    def forget(self, collection: str) -> None:
        self._known.pop(collection, None)

    async def get(self, collection: str) -> CollectionSpec | None:
        known = self._known.get(collection)
        if known is not None and time.monotonic() < known.until:
            return known.spec
        spec = await self._ask_regions(collection)
        ttl = LEARNT_TTL_S if spec is not None else ABSENT_TTL_S
        self._known[collection] = Known(spec, time.monotonic() + ttl)
        return spec

    async def _ask_regions(self, collection: str) -> CollectionSpec | None:
        errors = []
        answered_missing = False
        for client in self._clients:
            try:
                reply = await client.send("GET", collection_path(collection), None, self._timeout)
            except UpstreamError as exc:
                errors.append(f"{client.name}: {exc}")
                continue
            if reply.status == 200:
                return CollectionSpec.from_info(orjson.loads(reply.body)["result"])
            if reply.status == 404:
                answered_missing = True
            else:
                errors.append(f"{client.name}: HTTP {reply.status}")
        if answered_missing:
            return None
        raise SchemasUnavailable("; ".join(errors))
