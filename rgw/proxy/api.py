"""The gateway's HTTP surface: Qdrant's REST API (forwarded as bytes) and /gateway/*.

Reads and writes are told apart by method and path alone; bodies are never parsed here.

`GatewayApi` is the one implementation, written against plain method / target / headers /
body values so that two servers can carry it: the gateway's own HTTP/1.1 protocol
(rgw.http.server) for ordinary requests, and aiohttp's, through the routes added here, for
connections that protocol hands over (unusual framing, operator endpoints, unknown paths).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import unquote

import orjson
from aiohttp import web

from rgw import QDRANT_API_VERSION, QDRANT_MAX_REQUEST_BYTES, __version__
from rgw.http.server import Fields, Reply, Request
from rgw.proxy.chain import ReadRequest
from rgw.qdrant.errors import BadRequest, QdrantError
from rgw.regions.routing import Answer, Ended, NoSourceAvailable

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
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
PROBES = frozenset({"/healthz", "/livez", "/readyz"})
SEARCH_PATH = re.compile(r"/gateway/collections/([^{}/]+)/search")  # aiohttp's {collection}
# Route kinds besides READ and the write operations' names (which never contain a colon).
ROOT, PROBE, SEARCH = "gateway:root", "gateway:probe", "gateway:search"

Header = Callable[[str], str | None]  # a request header by lower-case name


class Writer(Protocol):
    """The write path as the API sees it: the durable journal in production."""

    async def write(self, method: str, path: str, body: bytes | None, collection: str | None,
                    op: str) -> Answer: ...


class Reader(Protocol):
    """The read path as the API sees it: the collection's policy chain."""

    async def read(self, request: ReadRequest) -> Answer: ...

    def read_now(self, request: ReadRequest, done: Ended) -> bool:
        """Start `request` without a task; `done(answer, error)` later. False: `read` must serve it."""
        ...


def provenance(answer: Answer) -> Fields:
    coverage = "1" if answer.coverage >= 1.0 else f"{answer.coverage:.4f}"
    staleness = "0.000" if answer.staleness_s == 0.0 else f"{answer.staleness_s:.3f}"
    fields = _provenance(answer.region, answer.mode, coverage, staleness)
    if len(answer.attempts) > 1:
        fields += (("X-Gateway-Attempts", ", ".join(map(str, answer.attempts))),)
    if answer.headers:
        fields += tuple(answer.headers.items())
    return fields


@functools.lru_cache(maxsize=1024)  # the same few answer nearly every request; h1server keeps their rendering
def _provenance(source: str, mode: str, coverage: str, staleness: str) -> Fields:
    return (("X-Gateway-Source", source), ("X-Gateway-Mode", mode), ("X-Gateway-Coverage", coverage),
            ("X-Gateway-Staleness", staleness))


def min_lsn(header: Header) -> int:
    value = header("x-gateway-min-lsn")
    if value is None:
        return 0
    if not value.strip().isdigit():
        raise BadRequest(f"Bad request: X-Gateway-Min-LSN must be a journal position (an integer), "
                         f"got {value[:40]!r}")
    return int(value)


def query_text(header: Header) -> str | None:
    """The query's text for lexical fallback; percent-encode it to send non-ASCII in a header."""
    value = header("x-gateway-query-text")
    return unquote(value) if value else None


def error(status: int, message: str, started: float | None = None, headers: Fields = ()) -> Reply:
    """Qdrant's error envelope (as rgw.envelope.error), `{"status": {"error": ...}, "time": seconds}`."""
    elapsed = time.perf_counter() - started if started is not None else 0.0
    return Reply(status, orjson.dumps({"status": {"error": message}, "time": elapsed}), JSON, headers)


def ok(result: object, started: float, headers: Fields = ()) -> Reply:
    """Qdrant's result envelope (as rgw.envelope.ok)."""
    body = orjson.dumps({"result": result, "status": "ok", "time": time.perf_counter() - started})
    return Reply(200, body, JSON, headers)


def unavailable(exc: NoSourceAvailable, started: float) -> Reply:
    tried = "; ".join(str(a) for a in exc.attempts)
    return error(503, f"Service unavailable: no allowed source could answer ({tried})", started,
                 headers=(("X-Gateway-Source", "none"), ("X-Gateway-Mode", "unavailable")))


def failed(exc: NoSourceAvailable | QdrantError, started: float) -> Reply:
    """The answer when no source could serve (503) or the request was refused (its Qdrant status)."""
    if isinstance(exc, NoSourceAvailable):
        return unavailable(exc, started)
    return error(exc.status, exc.message, started)


def relay(answer: Answer) -> Reply:
    """A source's answer as the client gets it: its bytes, with where it came from."""
    reply = answer.reply
    return Reply(reply.status, reply.body, reply.content_type.partition(";")[0], provenance(answer))


def too_large(started: float) -> Reply:
    return error(413, f"Payload too large: request body exceeds {MAX_BODY_BYTES} bytes", started)


SEARCH_FIELDS: dict[str, type | tuple[type, ...]] = {
    "text": str, "vector": (list, dict), "filter": dict, "limit": int, "offset": int, "with_payload": (bool, list),
    "using": str}


class GatewayApi:
    """Everything an application calls: Qdrant's API, the gateway's search, root and probes."""

    max_body = MAX_BODY_BYTES

    def __init__(self, reader: Reader, writer: Writer) -> None:
        self._reader = reader
        self._writer = writer

    # -- for rgw.http.server ----------------------------------------------------------------
    def route(self, method: str, target: str) -> tuple[str, str | None] | None:
        """(kind, collection) of a request this API serves, else None (aiohttp answers it: a 404, or an
        operator endpoint)."""
        return _route(method, target.partition("?")[0])

    def handle_now(self, request: Request, send: Callable[[Reply], None]) -> bool:
        """Serve a plain read without a task of its own: `send(reply)` is called once, later.

        False means nothing was started and `handle` serves the request (writes, the gateway's own
        endpoints, and the reads the chain cannot start at once).
        """
        kind, collection = request.route
        if kind != READ:
            return False
        header = request.headers.get
        try:
            lsn = min_lsn(header)
        except QdrantError:
            return False  # `handle` answers the 400
        started = time.perf_counter()
        read = ReadRequest(request.method, request.target, request.body, collection, lsn, query_text(header))
        return self._reader.read_now(read, functools.partial(self._answered, send, started))

    def _answered(self, send: Callable[[Reply], None], started: float, answer: Answer | None,
                  error: Exception | None) -> None:
        if answer is not None:
            send(relay(answer))
        elif isinstance(error, NoSourceAvailable | QdrantError):
            send(failed(error, started))
        else:
            log.error("read failed", exc_info=error)
            send(self.crashed())

    async def handle(self, request: Request) -> Reply:
        kind, collection = request.route
        if kind == ROOT:
            return root()
        if kind == PROBE:
            return probe(request.target.partition("?")[0])
        started = time.perf_counter()
        if kind == SEARCH:
            return await self.search(collection or "", request.body or b"", request.headers.get, started)
        return await self.qdrant(request.method, request.target, request.body, kind, collection,
                                 request.headers.get, started)

    def crashed(self) -> Reply:
        return error(500, "Service internal error: the gateway failed on this request (logged)")

    def timed_out(self) -> Reply:
        return error(408, "Request timeout: the request did not arrive in time")

    # -- the API itself --------------------------------------------------------------------------
    async def qdrant(self, method: str, raw_path: str, body: bytes | None, kind: str, collection: str | None,
                     header: Header, started: float) -> Reply:
        """Forward the bytes along the read chain or through the journal; relay the answer with provenance."""
        try:
            if kind == READ:
                answer = await self._reader.read(ReadRequest(method, raw_path, body, collection, min_lsn(header),
                                                             query_text(header)))
            else:
                answer = await self._writer.write(method, raw_path, body, collection, kind)
        except (NoSourceAvailable, QdrantError) as exc:
            return failed(exc, started)
        return relay(answer)

    async def search(self, collection: str, raw: bytes, header: Header, started: float) -> Reply:
        """`POST /gateway/collections/{name}/search`: text and/or vector in, hits plus provenance out.

        With a vector the regions answer as for points/query; the text lets the lexical source
        answer when they cannot. The provenance is in the body as well as in the headers.
        """
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return error(400, f"Format error in JSON body: {exc}", started)
        if not isinstance(body, dict):
            return error(400, "Format error in JSON body: expected an object", started)
        for key, value in body.items():
            expected = SEARCH_FIELDS.get(key)
            if expected is None:
                return error(400, f"Format error in JSON body: unknown field {key!r} "
                                  f"(allowed: {', '.join(SEARCH_FIELDS)})", started)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                return error(400, f"Format error in JSON body: {key}: wrong type {type(value).__name__}", started)
        if "text" not in body and "vector" not in body:
            return error(400, "Format error in JSON body: give text, vector, or both", started)
        query = {k: body[k] for k in ("filter", "limit", "offset", "with_payload", "using") if k in body}
        if "vector" in body:
            query["query"] = body["vector"]
        try:
            answer = await self._reader.read(ReadRequest("POST", f"/collections/{collection}/points/query",
                                                         orjson.dumps(query), collection, min_lsn(header),
                                                         body.get("text"), vectorless="vector" not in body))
        except (NoSourceAvailable, QdrantError) as exc:
            return failed(exc, started)
        if answer.reply.status != 200:
            return Reply(answer.reply.status, answer.reply.body, JSON, provenance(answer))
        points = orjson.loads(answer.reply.body)["result"]["points"]
        result = {"points": points, "source": answer.region, "mode": answer.mode, "coverage": answer.coverage,
                  "staleness_s": round(answer.staleness_s, 3)}
        return ok(result, started, headers=provenance(answer))


@functools.lru_cache(maxsize=4096)  # clients ask the same few paths over and over
def _route(method: str, path: str) -> tuple[str, str | None] | None:
    kind, collection = classify(method, path)
    if kind is not None:
        return kind, collection
    if method == "GET":
        if path == "/":
            return ROOT, None
        if path in PROBES:
            return PROBE, None
    elif method == "POST" and (match := SEARCH_PATH.fullmatch(path)):
        return SEARCH, unquote(match[1])
    return None


def root() -> Reply:
    # qdrant-client reads `version` to check compatibility; we speak this API version.
    return Reply(200, orjson.dumps({"title": "qdrant - vector search engine", "version": QDRANT_API_VERSION,
                                    "gateway": f"retrieval-gateway {__version__}"}))


def probe(path: str) -> Reply:
    return Reply(200, f"{path.strip('/')} check passed".encode(), TEXT)


# -- the same API on aiohttp, for connections rgw.http.server hands over --------------------------
def to_aiohttp(reply: Reply) -> web.Response:
    return web.Response(body=reply.body, status=reply.status,
                        headers={**dict(reply.headers), "Content-Type": reply.content_type})


def qdrant_handler(api: GatewayApi) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        started = time.perf_counter()
        method, raw_path = request.method, request.raw_path
        kind, collection = classify(method, raw_path)
        if kind is None:
            return to_aiohttp(error(404, f"Not found: {method} {request.path} is not served by the gateway",
                                    started))
        try:
            body = await request.read() if request.body_exists else None
        except web.HTTPRequestEntityTooLarge:
            return to_aiohttp(too_large(started))
        return to_aiohttp(await api.qdrant(method, raw_path, body, kind, collection, request.headers.get, started))

    return handler


def gateway_search(api: GatewayApi) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        started = time.perf_counter()
        return to_aiohttp(await api.search(request.match_info["collection"], await request.read(),
                                           request.headers.get, started))

    return handler


async def root_handler(request: web.Request) -> web.Response:
    return to_aiohttp(root())


async def probe_handler(request: web.Request) -> web.Response:
    return to_aiohttp(probe(request.path))


API_KEY = web.AppKey("gateway_api", GatewayApi)


def add_routes(app: web.Application, reader: Reader, writer: Writer) -> None:
    """The gateway's own endpoints first, then everything else through the Qdrant handler.

    The API is kept on the app (API_KEY) for rgw.gateway.serve, which serves it with h1server.
    """
    api = GatewayApi(reader, writer)
    app[API_KEY] = api
    app.router.add_get("/", root_handler)
    for path in PROBES:
        app.router.add_get(path, probe_handler)
    app.router.add_post("/gateway/collections/{collection}/search", gateway_search(api))
    app.router.add_route("*", "/{tail:.*}", qdrant_handler(api))
