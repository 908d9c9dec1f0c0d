"""Where a snapshot to recover from comes from: a local file, a URL, or a multipart upload.

Downloads and uploads are streamed to disk a chunk at a time: snapshots can be far larger than
any request body the store otherwise accepts, and must never be held in memory.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import web

from rgw.envelope import error_message
from rgw.qdrant.errors import BadRequest, NotFound

CHUNK = 1 << 20
UPLOAD_FIELD = "snapshot"  # the form field qdrant-client and Qdrant's docs (curl -F) use
# A large snapshot takes a while to come; only a stalled transfer is an error.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=300)


def local_file(location: str) -> Path | None:
    """The path of a `file://` location (which must exist), or None for any other scheme."""
    parts = urlsplit(location)
    if parts.scheme != "file":
        return None
    if parts.netloc not in ("", "localhost"):
        raise BadRequest(f"Bad request: snapshot location {location} names another host")
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        raise BadRequest(f"Bad request: snapshot location {location} is not an absolute path")
    if not path.is_file():
        raise NotFound(f"Snapshot file {path} does not exist")
    return path


async def download(location: str, api_key: str | None, to: Path) -> None:
    """Stream an http(s) location into `to`."""
    if urlsplit(location).scheme not in ("http", "https"):
        raise BadRequest(f"Bad request: snapshot location {location!r} must be a file://, http:// or https:// URL")
    headers = {"api-key": api_key} if api_key else {}
    try:
        async with aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT) as session, \
                session.get(location, headers=headers) as resp:
            if resp.status != 200:
                detail = error_message(await resp.content.read(4096))
                raise BadRequest(f"Bad request: failed to download snapshot from {location}: "
                                 f"HTTP {resp.status}: {detail}")
            with to.open("wb") as out:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    out.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BadRequest(f"Bad request: failed to download snapshot from {location}: {exc or type(exc).__name__}") \
            from None


async def receive_upload(request: web.Request, to: Path) -> None:
    """Stream the `snapshot` field of a multipart/form-data body into `to`.

    Reading the body part by part is not subject to the app's client_max_size, which only limits
    bodies read whole (request.read/post/json).
    """
    if not request.content_type.startswith("multipart/"):
        raise BadRequest(f"Bad request: expected a multipart/form-data body with the snapshot in field "
                         f"`{UPLOAD_FIELD}`, got {request.content_type or 'no content type'}")
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name != UPLOAD_FIELD:
                continue  # other fields are ignored, as Qdrant does; the reader skips their data
            with to.open("wb") as out:
                while chunk := await part.read_chunk(CHUNK):
                    out.write(chunk)
            return
    except (ValueError, aiohttp.ClientPayloadError) as exc:  # malformed or cut-off multipart body
        raise BadRequest(f"Bad request: the upload is not a complete multipart/form-data body: {exc}") from None
    raise BadRequest(f"Bad request: no `{UPLOAD_FIELD}` field in the multipart/form-data body")
