"""The gateway's HTTP surface: Qdrant's REST API (forwarded as bytes) and /gateway/*.

Reads and writes are told apart by method and path alone; bodies are never parsed here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import unquote

import orjson
from aiohttp import web

from rgw import QDRANT_API_VERSION, QDRANT_MAX_REQUEST_BYTES, __version__, envelope
from rgw.proxy.chain import ReadRequest
from rgw.proxy.routing import Answer, NoSourceAvailable
from rgw.qdrant.errors import BadRequest, QdrantError

log = logging.getLogger("rgw.api")

# Qdrant REST operations the gateway serves, by method and the path after /collections/{name}
# ("*" stands for one path segment such as a point id). Anything else is a 404 naming the path:
# the gateway does not forward what it cannot route safely (cluster, snapshots, shard keys...).
COLLECTION_READS = frozenset({
    ("GET", ""), ("GET", "exists"), ("GET", "aliases"),
    ("POST", "points"), ("GET", "points/*"), ("POST", "points/scroll"), ("POST", "points/count"),
    ("POST", "points/query"), ("POST", "points/query/batch"), ("POST", "points/query/groups"),
    ("POST", "points/search"), ("POST", "points/search/batch"), ("POST", "points/search/groups"),
    ("POST", "points/recommend"), ("POST", "points/recommend/batch"),
    ("POST", "points/discover"), ("POST", "points/discover/batch"), ("POST", "facet"),
})
COLLECTION_WRITES: dict[tuple[str, str], str] = {
    ("PUT", ""): "create_collection", ("PATCH", ""): "update_collection", ("DELETE", ""): "delete_collection",
    ("PUT", "points"): "upsert", ("POST", "points/delete"): "delete", ("POST", "points/batch"): "batch",
    ("POST", "points/payload"): "set_payload", ("PUT", "points/payload"): "overwrite_payload",
    ("POST", "points/payload/delete"): "delete_payload", ("POST", "points/payload/clear"): "clear_payload",
    ("PUT", "points/vectors"): "update_vectors", ("POST", "points/vectors/delete"): "delete_vectors",
    ("PUT", "index"): "create_index", ("DELETE", "index/*"): "delete_index",
}
TOP_LEVEL_READS = frozenset({("GET", "/collections"), ("GET", "/aliases")})


READ = "read"


def classify(method: str, raw_path: str) -> tuple[str | None, str | None]:
    """(READ, a write operation's name, or None; collection name or None) for a request line."""
    path = raw_path.partition("?")[0]
    if (method, path) in TOP_LEVEL_READS:
        return READ, None
    parts = path.split("/", 3)  # "", "collections", name, rest
    if len(parts) < 3 or parts[1] != "collections" or not parts[2]:
        return None, None
    collection = unquote(parts[2])
    rest = parts[3] if len(parts) == 4 else ""
    shape = (method, rest)
    if shape not in COLLECTION_READS and shape not in COLLECTION_WRITES:
        head, sep, tail = rest.rpartition("/")
        if sep and tail and "/" not in head:
            shape = (method, f"{head}/*")
    if shape in COLLECTION_READS:
        return READ, collection
    op = COLLECTION_WRITES.get(shape)
    return (op, collection) if op else (None, None)


MAX_BODY_BYTES = QDRANT_MAX_REQUEST_BYTES


class Writer(Protocol):
    """The write path as the API sees it: the durable journal in production."""

    async def write(self, method: str, path: str, body: bytes | None, collection: str | None,
                    op: str) -> Answer: ...


class Reader(Protocol):
    """The read path as the API sees it: the collection's policy chain."""

    async def read(self, request: ReadRequest) -> Answer: ...


def provenance(answer: Answer) -> dict[str, str]:
    headers = {
        "X-Gateway-Source": answer.region,
        "X-Gateway-Mode": answer.mode,
        "X-Gateway-Coverage": "1" if answer.coverage >= 1.0 else f"{answer.coverage:.4f}",
        "X-Gateway-Staleness": f"{answer.staleness_s:.3f}",
    }
    if len(answer.attempts) > 1:
        headers["X-Gateway-Attempts"] = ", ".join(map(str, answer.attempts))
    if answer.headers:
        headers.update(answer.headers)
    return headers


def min_lsn(request: web.Request) -> int:
    value = request.headers.get("X-Gateway-Min-LSN")
    if value is None:
        return 0
    if not value.strip().isdigit():
        raise BadRequest(f"Bad request: X-Gateway-Min-LSN must be a journal position (an integer), "
                         f"got {value[:40]!r}")
    return int(value)


def query_text(request: web.Request) -> str | None:
    """The query's text for lexical fallback; percent-encode it to send non-ASCII in a header."""
    value = request.headers.get("X-Gateway-Query-Text")
    return unquote(value) if value else None


def unavailable(exc: NoSourceAvailable, started: float) -> web.Response:
    tried = "; ".join(str(a) for a in exc.attempts)
    return envelope.error(503, f"Service unavailable: no allowed source could answer ({tried})", started,
                          headers={"X-Gateway-Source": "none", "X-Gateway-Mode": "unavailable"})


def qdrant_handler(reader: Reader, writer: Writer):
    """The one handler behind Qdrant's API: classify, forward the bytes, relay the answer back."""

    async def handler(request: web.Request) -> web.Response:
        started = time.perf_counter()
        method, raw_path = request.method, request.raw_path
        kind, collection = classify(method, raw_path)
        if kind is None:
            return envelope.error(404, f"Not found: {method} {request.path} is not served by the gateway", started)
        try:
            body = await request.read() if request.body_exists else None
        except web.HTTPRequestEntityTooLarge:
            return envelope.error(413, f"Payload too large: request body exceeds {MAX_BODY_BYTES} bytes", started)
        try:
            if kind == READ:
                answer = await reader.read(ReadRequest(method, raw_path, body, collection, min_lsn(request),
                                                       query_text(request)))
            else:
                answer = await writer.write(method, raw_path, body, collection, kind)
        except NoSourceAvailable as exc:
            return unavailable(exc, started)
        except QdrantError as exc:
            return envelope.error(exc.status, exc.message, started)
        reply = answer.reply
        return web.Response(body=reply.body, status=reply.status, headers=provenance(answer),
                            content_type=reply.content_type.partition(";")[0])

    return handler


SEARCH_FIELDS = {"text": str, "vector": (list, dict), "filter": dict, "limit": int, "offset": int,
                 "with_payload": (bool, list), "using": str}


def gateway_search(reader: Reader):
    """`POST /gateway/collections/{name}/search`: text and/or vector in, hits plus provenance out.

    With a vector the regions answer as for points/query; the text lets the lexical source
    answer when they cannot. The provenance is in the body as well as in the headers.
    """

    async def handler(request: web.Request) -> web.Response:
        started = time.perf_counter()
        collection = request.match_info["collection"]
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return envelope.error(400, f"Format error in JSON body: {exc}", started)
        if not isinstance(body, dict):
            return envelope.error(400, "Format error in JSON body: expected an object", started)
        for key, value in body.items():
            expected = SEARCH_FIELDS.get(key)
            if expected is None:
                return envelope.error(400, f"Format error in JSON body: unknown field {key!r} "
                                           f"(allowed: {', '.join(SEARCH_FIELDS)})", started)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                return envelope.error(400, f"Format error in JSON body: {key}: wrong type {type(value).__name__}",
                                      started)
        if "text" not in body and "vector" not in body:
            return envelope.error(400, "Format error in JSON body: give text, vector, or both", started)
        query = {k: body[k] for k in ("filter", "limit", "offset", "with_payload", "using") if k in body}
        if "vector" in body:
            query["query"] = body["vector"]
        try:
            answer = await reader.read(ReadRequest("POST", f"/collections/{collection}/points/query",
                                                   orjson.dumps(query), collection, min_lsn(request),
                                                   body.get("text"), vectorless="vector" not in body))
        except NoSourceAvailable as exc:
            return unavailable(exc, started)
        except QdrantError as exc:
            return envelope.error(exc.status, exc.message, started)
        if answer.reply.status != 200:
            return web.Response(body=answer.reply.body, status=answer.reply.status, headers=provenance(answer),
                                content_type="application/json")
        points = orjson.loads(answer.reply.body)["result"]["points"]
        result = {"points": points, "source": answer.region, "mode": answer.mode, "coverage": answer.coverage,
                  "staleness_s": round(answer.staleness_s, 3)}
        return envelope.ok(result, started, headers=provenance(answer))

    return handler


async def root(request: web.Request) -> web.Response:
    # qdrant-client reads `version` to check compatibility; we speak this API version.
    return web.json_response({"title": "qdrant - vector search engine", "version": QDRANT_API_VERSION,
                              "gateway": f"retrieval-gateway {__version__}"})


async def probe(request: web.Request) -> web.Response:
    return web.Response(text=f"{request.path.strip('/')} check passed")


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


def add_routes(app: web.Application, reader: Reader, writer: Writer) -> None:
    """The gateway's own endpoints first, then everything else through the Qdrant handler."""
    app.router.add_get("/", root)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, probe)
    app.router.add_post("/gateway/collections/{collection}/search", gateway_search(reader))
    app.router.add_route("*", "/{tail:.*}", qdrant_handler(reader, writer))
