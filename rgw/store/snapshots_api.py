"""REST handlers for collection snapshots (Qdrant's /collections/{name}/snapshots endpoints).

`wait=false` answers 202 `{"status": "accepted"}` at once and does the work in the background,
as Qdrant does; a failure then is only logged.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from rgw import envelope
from rgw.qdrant.errors import BadRequest, FormatError
from rgw.qdrant.fields import parse_body
from rgw.store import snapshot_sources
from rgw.store.api import Handler, api, collection_of, store_of
from rgw.store.registry import check_name
from rgw.store.snapshots import Snapshots

PRIORITIES = ("no_sync", "snapshot", "replica")  # accepted and checked; one node has nothing to sync
_background: set[asyncio.Task[Any]] = set()  # strong references, or the loop may drop the tasks


def _flag(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise BadRequest(f"Format error in query parameters: {name}: expected true or false, got `{raw}`")


def _priority(raw: Any, where: str) -> None:
    if raw is not None and raw not in PRIORITIES:
        raise BadRequest(f"{where}: unknown priority `{raw}`, expected one of {', '.join(PRIORITIES)}")


ACCEPTED = object()  # what a handler returns when the work goes on in the background


def snapshot_api(fn: Callable[[web.Request], Awaitable[Any]]) -> Handler:
    """Like api.api, plus Qdrant's 202 `{"status": "accepted"}` (no result) for ACCEPTED."""

    @functools.wraps(fn)
    async def handler(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        result = await fn(request)
        if result is ACCEPTED:
            body = orjson.dumps({"status": "accepted", "time": time.perf_counter() - started})
            return web.Response(body=body, status=202, content_type=envelope.JSON)
        return envelope.ok(result, started)

    return handler


async def _run(request: web.Request, work: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Run `work` and return its result, or with wait=false start it and return ACCEPTED."""
    if _flag(request, "wait", True):
        return await work()
    log = store_of(request).log

    async def background() -> None:
        try:
            await work()
        except Exception as exc:
            log.warning("%s failed: %s", what, getattr(exc, "message", None) or repr(exc))

    task = asyncio.create_task(background())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return ACCEPTED


@snapshot_api
async def create_snapshot(request: web.Request) -> Any:
    collection = collection_of(request)
    snapshots = store_of(request).snapshots
    return await _run(request, lambda: snapshots.create(collection), f"snapshot of {collection.name}")


@api
async def list_snapshots(request: web.Request) -> Any:
    collection = collection_of(request)
    return await asyncio.to_thread(store_of(request).snapshots.list, collection.name)


async def download_snapshot(request: web.Request) -> web.StreamResponse:
    collection = collection_of(request)
    path = store_of(request).snapshots.path(collection.name, request.match_info["snapshot_name"])
    # FileResponse streams with sendfile and honours Range; nothing is read into memory.
    return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})


@snapshot_api
async def delete_snapshot(request: web.Request) -> Any:
    collection, snapshot = collection_of(request), request.match_info["snapshot_name"]
    snapshots = store_of(request).snapshots
    snapshots.path(collection.name, snapshot)  # 404 now, even with wait=false

    async def delete() -> bool:
        await asyncio.to_thread(snapshots.delete, collection.name, snapshot)
        return True

    return await _run(request, delete, f"deleting snapshot {snapshot}")


@snapshot_api
async def recover_from_location(request: web.Request) -> Any:
    name = request.match_info["name"]
    check_name(name)
    body = parse_body(await request.read())
    if not isinstance(body, dict):
        raise FormatError("", "expected an object with `location`")
    location, checksum, api_key = body.get("location"), body.get("checksum"), body.get("api_key")
    if not isinstance(location, str) or not location:
        raise FormatError("location", "missing field `location`" if location is None else "expected a URL string")
    for field_name, value in (("checksum", checksum), ("api_key", api_key)):
        if value is not None and not isinstance(value, str):
            raise FormatError(field_name, "expected a string")
    _priority(body.get("priority"), "Format error in JSON body: priority")
    local = snapshot_sources.local_file(location)  # a missing file is refused before anything starts

    async def obtain(to: Path) -> Path | None:
        if local is not None:
            return local
        await snapshot_sources.download(location, api_key, to)
        return None

    snapshots = store_of(request).snapshots
    return await _run(request, lambda: _recover(snapshots, name, obtain, checksum),
                      f"recovering {name} from {location}")


@snapshot_api
async def recover_from_upload(request: web.Request) -> Any:
    name = request.match_info["name"]
    check_name(name)
    _priority(request.query.get("priority"), "Format error in query parameters: priority")
    _flag(request, "wait", True)
    checksum, snapshots = request.query.get("checksum"), store_of(request).snapshots
    # The body is read whole before answering, even with wait=false; only recovery may run on.
    holder = snapshots.workspace()
    upload = holder / "upload.snapshot"
    try:
        await snapshot_sources.receive_upload(request, upload)
    except BaseException:
        shutil.rmtree(holder, ignore_errors=True)
        raise

    async def received(_: Path) -> Path:
        return upload

    async def recover_then_clean() -> bool:
        try:
            return await _recover(snapshots, name, received, checksum)
        finally:
            await asyncio.to_thread(shutil.rmtree, holder, True)

    return await _run(request, recover_then_clean, f"recovering {name} from an upload")


async def _recover(snapshots: Snapshots, name: str, obtain: Callable[[Path], Awaitable[Path | None]],
                   checksum: str | None) -> bool:
    await snapshots.recover(name, obtain, checksum)
    return True


def add_routes(app: web.Application) -> None:
    r = app.router
    base = "/collections/{name}/snapshots"
    r.add_get(base, list_snapshots)
    r.add_post(base, create_snapshot)
    r.add_put(base + "/recover", recover_from_location)
    r.add_post(base + "/upload", recover_from_upload)
    r.add_get(base + "/{snapshot_name}", download_snapshot)
    r.add_delete(base + "/{snapshot_name}", delete_snapshot)
