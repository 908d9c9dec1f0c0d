"""Rebuild a collection's lexical index from a region (`rgw reindex lexical --collection C --from REGION`).

Scrolls every point with its payload, a page at a time, into a fresh index beside the live one
(which keeps serving and taking writes), then swaps it in through the feeder, which applies again
every journal entry after `as_of`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from rgw.fallbacks.lexical_collection import SpecSource
from rgw.fallbacks.lexical_feed import LexicalFeeder
from rgw.qdrant.envelope import error_message
from rgw.qdrant.errors import QdrantError
from rgw.qdrant.fields import Payload, PointId
from rgw.qdrant.names import collection_path
from rgw.regions.client import RegionClient, UpstreamError

SCROLL_PAGE = 1000
REQUEST_TIMEOUT_S = 60.0


class RebuildFailed(Exception):
    """The region could not be read; the live lexical index is unchanged."""


@dataclass(frozen=True)
class RebuildProgress:
    collection: str
    region: str
    indexed: int
    expected: int | None  # the region's point count when the rebuild started (it may change meanwhile)
    done: bool


async def reindex_from_region(feeder: LexicalFeeder, client: RegionClient, collection: str, as_of: int,
                              progress: Callable[[RebuildProgress], None] | None = None,
                              page: int = SCROLL_PAGE) -> int:
    """Rebuild `collection` from the region behind `client`; returns the number of points indexed.

    `as_of` is an LSN the region had applied before the scroll started (its applier's `applied`):
    the points read reflect at least that, and the feeder applies every later entry again.
    Progress is reported on the event loop after every page.
    """
    spec, expected = await _describe(client, collection)
    loop = asyncio.get_running_loop()

    def report(indexed: int, done: bool = False) -> RebuildProgress:
        return RebuildProgress(collection, client.name, indexed, expected, done)

    def points() -> Iterator[tuple[PointId, Payload | None]]:
        # Runs on the build thread; each page is fetched on the event loop, which owns the connections.
        offset: Any = None
        indexed = 0
        while True:
            batch, offset = asyncio.run_coroutine_threadsafe(_scroll(client, collection, offset, page), loop).result()
            yield from batch
            indexed += len(batch)
            if progress is not None:
                loop.call_soon_threadsafe(progress, report(indexed))
            if offset is None:
                return

    staged = await asyncio.to_thread(feeder.index.build, collection, points(), as_of=as_of, spec=spec)
    await feeder.install(staged)
    if progress is not None:
        progress(report(staged.documents, done=True))
    return staged.documents


async def _describe(client: RegionClient, collection: str) -> tuple[SpecSource, int | None]:
    result = await _call(client, "GET", collection_path(collection), None)
    try:
        spec = SpecSource("info", result["config"])
        spec.spec()
    except (KeyError, TypeError, QdrantError) as exc:
        raise RebuildFailed(f"region {client.name} described `{collection}` in a way the gateway cannot read: "
                            f"{exc}") from exc
    return spec, result.get("points_count")


async def _scroll(client: RegionClient, collection: str, offset: Any,
                  page: int) -> tuple[list[tuple[PointId, Payload | None]], Any]:
    body = {"limit": page, "offset": offset, "with_payload": True, "with_vector": False}
    result = await _call(client, "POST", collection_path(collection, "points", "scroll"),
                         orjson.dumps(body))
    return [(point["id"], point.get("payload")) for point in result["points"]], result.get("next_page_offset")


async def _call(client: RegionClient, method: str, path: str, body: bytes | None) -> Any:
    try:
        reply = await client.send(method, path, body, REQUEST_TIMEOUT_S)
    except UpstreamError as exc:
        raise RebuildFailed(f"region {client.name}: {exc}") from exc
    if reply.status != 200:
        raise RebuildFailed(f"region {client.name}: {method} {path}: HTTP {reply.status}: {error_message(reply.body)}")
    return orjson.loads(reply.body)["result"]
