"""Moving collection snapshots between a region and local files, through Qdrant's snapshot API.

Snapshots are large (vectors and indexes), so both directions stream through aiohttp instead of
the gateway's request pool, which holds whole bodies in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from rgw.qdrant.envelope import error_message
from rgw.qdrant.names import collection_path
from rgw.settings.config import Region

CHUNK = 1 << 20
# Creating or recovering a snapshot of a large collection takes minutes on a real Qdrant.
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=900)

Tick = Callable[[int], None]  # bytes moved since the last call


class TransferError(Exception):
    """The region refused or failed a snapshot operation; the message says which and why."""


def _headers(region: Region) -> dict[str, str]:
    return {"api-key": region.api_key} if region.api_key else {}


def _snapshots_url(region: Region, collection: str, *rest: str) -> str:
    return region.url.rstrip("/") + collection_path(collection, "snapshots", *rest)


async def _result(resp: aiohttp.ClientResponse, what: str) -> Any:
    body = await resp.read()
    if resp.status >= 300:
        raise TransferError(f"{what}: HTTP {resp.status}: {error_message(body)}")
    return orjson.loads(body).get("result")


async def create_snapshot(region: Region, collection: str) -> dict[str, Any]:
    """Ask the region for a snapshot of the collection; returns Qdrant's SnapshotDescription."""
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers=_headers(region)) as session, \
            session.post(_snapshots_url(region, collection), params={"wait": "true"}) as resp:
        description = await _result(resp, f"creating a snapshot of {collection} on {region.name}")
    if not isinstance(description, dict) or "name" not in description:
        raise TransferError(f"{region.name} answered the snapshot request without a snapshot name")
    return description


async def download_snapshot(region: Region, collection: str, name: str, to: Path, tick: Tick) -> str:
    """Stream a region's snapshot into `to`; returns its sha256."""
    digest = hashlib.sha256()
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers=_headers(region)) as session, \
            session.get(_snapshots_url(region, collection, name)) as resp:
        if resp.status != 200:
            await _result(resp, f"downloading snapshot {name} from {region.name}")
        with to.open("wb") as out:
            async for chunk in resp.content.iter_chunked(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                tick(len(chunk))
    return digest.hexdigest()


async def delete_snapshot(region: Region, collection: str, name: str) -> None:
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers=_headers(region)) as session, \
            session.delete(_snapshots_url(region, collection, name),
                           params={"wait": "true"}) as resp:
        await _result(resp, f"deleting snapshot {name} on {region.name}")


async def upload_snapshot(region: Region, collection: str, path: Path, sha256: str, tick: Tick) -> None:
    """Recover `collection` on the region from a local snapshot file (Qdrant's upload endpoint).

    The region checks the checksum itself, so a file damaged on the way is refused there too.
    """

    async def chunks() -> Any:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                tick(len(chunk))
                yield chunk

    form = aiohttp.FormData()
    form.add_field("snapshot", chunks(), filename=path.name, content_type="application/octet-stream")
    params = {"wait": "true", "priority": "snapshot", "checksum": sha256}
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers=_headers(region)) as session, \
            session.post(_snapshots_url(region, collection, "upload"), params=params, data=form) as resp:
        await _result(resp, f"recovering {collection} on {region.name} from {path.name}")
