"""Reading a collection off a region as id -> digest, page by page.

Verify, backup and the restore check all compare points this way; one digest and one scroll
keep them agreeing on what "the same point" means, whichever of them looked.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import orjson

from rgw.journal.truth import PointId, point_key
from rgw.qdrant.envelope import error_message
from rgw.qdrant.names import collection_path
from rgw.regions.client import RegionClient

PAGE = 1000  # points per scroll page
REQUEST_TIMEOUT_S = 60.0


class ScanFailed(Exception):
    pass


def ordered_ids(ids: Iterable[PointId]) -> list[PointId]:
    """Point ids in one fixed order: integers first, then UUID strings."""
    return sorted(ids, key=lambda i: (isinstance(i, str), i))


# -- digests -----------------------------------------------------------------------------------

def _feed_vector(h: Any, vector: Any) -> None:
    # float32 bytes, not JSON text: Qdrant prints a float32's shortest repr, our store the
    # float64 it widened to; both are the same float32.
    if vector is None:
        h.update(b"n")
    elif isinstance(vector, dict):  # sparse; sorted by index so storage order does not matter
        pairs = sorted(zip(vector.get("indices") or [], vector.get("values") or [], strict=False))
        h.update(b"s%d:" % len(pairs))
        h.update(np.asarray([i for i, _ in pairs], dtype=np.uint32).tobytes())
        h.update(np.asarray([v for _, v in pairs], dtype=np.float32).tobytes())
    elif vector and isinstance(vector[0], list):  # multivector
        h.update(b"m%d:" % len(vector))
        for row in vector:
            h.update(b"%d:" % len(row) + np.asarray(row, dtype=np.float32).tobytes())
    else:
        h.update(b"d%d:" % len(vector) + np.asarray(vector, dtype=np.float32).tobytes())


def point_digest(payload: Any, vector: Any) -> bytes:
    """blake2b of the canonical payload and every vector (named ones in name order)."""
    h = hashlib.blake2b(orjson.dumps(payload or {}, option=orjson.OPT_SORT_KEYS), digest_size=16)
    named = vector if isinstance(vector, dict) else ({} if vector is None else {"": vector})
    for name in sorted(named):
        h.update(b"\x00v" + name.encode() + b"\x00")
        _feed_vector(h, named[name])
    return h.digest()


def whole_digest(point: dict[str, Any]) -> bytes:
    return point_digest(point.get("payload"), point.get("vector"))


# -- reading regions -------------------------------------------------------------------------------

async def rest_call(client: RegionClient, method: str, path: str, body: Any = None,
                    timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, Any]:
    """(status, result or error text) of one Qdrant REST call; UpstreamError when there is no answer."""
    reply = await client.send(method, path, orjson.dumps(body) if body is not None else None, timeout)
    if reply.status >= 300:
        return reply.status, error_message(reply.body)
    return reply.status, orjson.loads(reply.body).get("result")


async def count_points(client: RegionClient, collection: str) -> int | None:
    status, result = await rest_call(client, "POST", collection_path(collection, "points", "count"), {"exact": True})
    return int(result["count"]) if status == 200 else None


def _digest_page(raw: bytes, digest: Callable[[dict[str, Any]], Any]) -> tuple[dict[PointId, Any], Any]:
    result = orjson.loads(raw)["result"]
    return {point_key(p["id"]): digest(p) for p in result["points"]}, result.get("next_page_offset")


async def scan(client: RegionClient, collection: str, tick: Callable[[int], None],
               digest: Callable[[dict[str, Any]], Any] = whole_digest) -> dict[PointId, Any] | None:
    """id -> digest of every point of the collection there; None when it has no such collection.

    Pages are decoded and digested on a worker thread: inside the gateway, a scan must not hold
    its event loop for the ~100 ms a page of 384-d vectors takes.
    """
    digests: dict[PointId, Any] = {}
    offset: Any = None
    path = collection_path(collection, "points", "scroll")
    while True:
        body: dict[str, Any] = {"limit": PAGE, "with_payload": True, "with_vector": True}
        if offset is not None:
            body["offset"] = offset
        reply = await client.send("POST", path, orjson.dumps(body), REQUEST_TIMEOUT_S)
        if reply.status == 404 and offset is None:
            return None
        if reply.status != 200:
            raise ScanFailed(f"scroll answered HTTP {reply.status}: {error_message(reply.body)}")
        page, offset = await asyncio.to_thread(_digest_page, reply.body, digest)
        digests.update(page)
        tick(len(page))
        if offset is None:
            return digests


async def list_collections(client: RegionClient) -> set[str]:
    status, result = await rest_call(client, "GET", "/collections")
    if status != 200:
        raise ScanFailed(f"listing collections answered HTTP {status}: {result}")
    return {c["name"] for c in result["collections"]}

