"""The Qdrant-compatible API: reads along the policy chain, writes through the journal, and the gateway's search.

Reads and writes are told apart by the operation their route names (rgw.qdrant.operations);
bodies are not parsed on the way through. What a region is sent is rebuilt from the route's
decoded parameters, every segment percent-encoded (rgw.qdrant.names.collection_path), and
every answer carries its provenance: source, mode, coverage and staleness.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import unquote

import orjson

from rgw import QDRANT_API_VERSION, __version__
from rgw.auth.audit import audit
from rgw.auth.caller import Caller
from rgw.http.server import Fields, Reply, Request
from rgw.proxy.chain import ReadRequest
from rgw.qdrant.envelope import JSON, error, ok
from rgw.qdrant.errors import BadRequest, QdrantError
from rgw.qdrant.names import collection_path
from rgw.qdrant.operations import Operation
from rgw.regions.attempts import NoSourceAvailable
from rgw.regions.routing import Answer, Ended

log = logging.getLogger("rgw.api")

TEXT = "text/plain; charset=utf-8"
Send = Callable[[Reply], None]
Params = dict[str, str]
Header = Callable[[str], str | None]  # a request header by lower-case name
MAX_LSN_DIGITS = 18  # more than any journal position this side of 2**63


class Writer(Protocol):
    """The write path as the API sees it: the durable journal in production."""

    async def write(self, op: Operation, collection: str, path: str, query: str, body: bytes | None) -> Answer: ...


class Reader(Protocol):
    """The read path as the API sees it: the collection's policy chain."""

    async def read(self, request: ReadRequest) -> Answer: ...

    def read_now(self, request: ReadRequest, done: Ended) -> bool:
        """Start `request` without a task; `done(answer, error)` later. False: `read` must serve it."""
        ...


def provenance(answer: Answer) -> Fields:
    coverage = "1" if answer.coverage >= 1.0 else f"{answer.coverage:.4f}"
    staleness = "0.000" if answer.staleness_s == 0.0 else f"{answer.staleness_s:.3f}"
    fields = _provenance(answer.source, answer.mode, coverage, staleness)
    if len(answer.attempts) > 1:
        fields += (("X-Gateway-Attempts", ", ".join(map(str, answer.attempts))),)
    if answer.headers:
        fields += tuple(answer.headers.items())
    return fields


@functools.lru_cache(maxsize=1024)  # the same few answer nearly every request; the server keeps their rendering
def _provenance(source: str, mode: str, coverage: str, staleness: str) -> Fields:
    return (("X-Gateway-Source", source), ("X-Gateway-Mode", mode), ("X-Gateway-Coverage", coverage),
            ("X-Gateway-Staleness", staleness))


def min_lsn(header: Header) -> int:
    """X-Gateway-Min-LSN: the journal position a read must see; ASCII digits only."""
    value = header("x-gateway-min-lsn")
    if value is None:
        return 0
    digits = value.strip()
    if not digits or len(digits) > MAX_LSN_DIGITS or not digits.isascii() or not digits.isdigit():
        raise BadRequest(f"Bad request: X-Gateway-Min-LSN must be a journal position (an integer), "
                         f"got {value[:40]!r}")
    return int(digits)


def query_text(header: Header) -> str | None:
    """The query's text for lexical fallback; percent-encode it to send non-ASCII in a header."""
    value = header("x-gateway-query-text")
    if not value:
        return None
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("Bad request: X-Gateway-Query-Text is not percent-encoded UTF-8") from None


def unavailable(exc: NoSourceAvailable, started: float) -> Reply:
    tried = "; ".join(str(a) for a in exc.attempts)
    return error(503, f"Service unavailable: no allowed source could answer ({tried})", started,
                 headers=(("X-Gateway-Source", "none"), ("X-Gateway-Mode", "unavailable")))


def failed(exc: Exception, started: float) -> Reply:
    """The answer when no source could serve (503), the request was refused (its Qdrant status), or a bug (500)."""
    if isinstance(exc, NoSourceAvailable):
        return unavailable(exc, started)
    if isinstance(exc, QdrantError):
        return error(exc.status, exc.message, started)
    log.error("read failed", exc_info=exc)
    return error(500, "Service internal error: the gateway failed on this request (logged)", started)


def relay(answer: Answer) -> Reply:
    """A source's answer as the client gets it: its bytes, with where it came from."""
    reply = answer.reply
    return Reply(reply.status, reply.body, reply.content_type.partition(";")[0], provenance(answer))


def _answered(send: Send, started: float, answer: Answer | None, error: Exception | None) -> None:
    if answer is not None:
        send(relay(answer))
    else:
        send(failed(error or RuntimeError("a read ended with neither answer nor error"), started))


MAX_REMEMBERED_PATHS = 4096


class RegionPaths:
    """What regions are sent for an operation's path: its template with the decoded parameters re-encoded.

    Remembered per client path (clients repeat theirs), so a read pays the encoding once.
    """

    def __init__(self, op: Operation) -> None:
        self._rest = op.template.split("/")[3:]  # after "", "collections", "{collection_name}"
        self._known: dict[str, str] = {}

    def plain(self, params: Params) -> str:
        """The region-side path without a query string."""
        segments = [params[part[1:-1]] if part.startswith("{") else part for part in self._rest]
        return collection_path(params["collection_name"], *segments)

    def path(self, request: Request, params: Params) -> str:
        """The region-side path, with the client's query string as sent (the server checked its characters)."""
        known = self._known.get(request.target)
        if known is not None:
            return known
        path = self.plain(params)
        query = request.target.partition("?")[2]
        target = f"{path}?{query}" if query else path
        if len(self._known) >= MAX_REMEMBERED_PATHS:
            self._known.clear()
        self._known[request.target] = target
        return target


class QdrantRead:
    """A read of one collection (points, info, search...): along its policy chain."""

    def __init__(self, reader: Reader, op: Operation) -> None:
        self._reader = reader
        self._op = op
        self._paths = RegionPaths(op)

    def _request(self, request: Request, params: Params) -> ReadRequest:
        header = request.headers.get
        return ReadRequest(self._op.id, request.method, self._paths.path(request, params), request.body,
                           params["collection_name"], min_lsn(header), query_text(header))

    def start_now(self, request: Request, params: Params, send: Send) -> bool:
        """Serve without a task of its own when the chain can start at once: `send(reply)` is called later."""
        try:
            read = self._request(request, params)
        except QdrantError:
            return False  # `handle` answers the 400
        return self._reader.read_now(read, functools.partial(_answered, send, time.perf_counter()))

    async def handle(self, request: Request, params: Params) -> Reply:
        started = time.perf_counter()
        try:
            return relay(await self._reader.read(self._request(request, params)))
        except (NoSourceAvailable, QdrantError) as exc:
            return failed(exc, started)


class QdrantListing:
    """What collections or aliases exist: the first region that answers; a collection-scoped caller sees only
    its collections (and the aliases of its collections), as in Qdrant."""

    def __init__(self, reader: Reader, op: Operation) -> None:
        self._reader = reader
        self._op = op

    async def handle(self, request: Request, params: Params) -> Reply:
        started = time.perf_counter()
        query = request.target.partition("?")[2]
        path = self._op.template + (f"?{query}" if query else "")
        try:
            answer = await self._reader.read(ReadRequest(self._op.id, request.method, path, None, None))
        except (NoSourceAvailable, QdrantError) as exc:
            return failed(exc, started)
        caller = request.caller
        if isinstance(caller, Caller) and caller.scoped and answer.reply.status == 200:
            return _visible(answer, caller, started)
        return relay(answer)


def _visible(answer: Answer, caller: Caller, started: float) -> Reply:
    """A listing with what `caller` may not see taken out; a listing that cannot be read is not relayed at all."""
    try:
        parsed = orjson.loads(answer.reply.body)
        result = parsed["result"]
        if "collections" in result:
            result["collections"] = [c for c in result["collections"] if caller.sees(c["name"])]
        else:
            result["aliases"] = [a for a in result["aliases"] if caller.sees(a["collection_name"])]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        return error(502, f"Bad gateway: {answer.source} answered a listing the gateway cannot read ({exc})",
                     started, headers=provenance(answer))
    return Reply(200, orjson.dumps(parsed), JSON, provenance(answer))


class QdrantWrite:
    """A write: validated, journaled, acknowledged in Qdrant's terms (rgw.journal.writer)."""

    def __init__(self, writer: Writer, op: Operation) -> None:
        self._writer = writer
        self._op = op
        self._paths = RegionPaths(op)

    async def handle(self, request: Request, params: Params) -> Reply:
        reply, lsn = await self._write(request, params)
        caller = request.caller
        audit(caller.id if isinstance(caller, Caller) else "anonymous", self._op.id, params.get("collection_name"),
              reply.status, lsn, request.peer)
        return reply

    async def _write(self, request: Request, params: Params) -> tuple[Reply, int | None]:
        started = time.perf_counter()
        if "collection_name" not in params:  # POST /collections/aliases names its collections in the body
            return error(501, f"Not implemented by the gateway: {self._op.id} (journaling it is not supported yet)",
                         started), None
        collection = params["collection_name"]
        try:
            answer = await self._writer.write(self._op, collection, self._paths.plain(params),
                                              request.target.partition("?")[2],
                                              request.body)
        except (NoSourceAvailable, QdrantError) as exc:
            return failed(exc, started), None
        lsn = answer.headers.get("X-Gateway-LSN") if answer.headers else None
        return relay(answer), int(lsn) if lsn is not None else None


class NotRouted:
    """A single node's business (snapshots, cluster, shards...): not served through the gateway."""

    def __init__(self, op: Operation) -> None:
        self._op = op

    async def handle(self, request: Request, params: Params) -> Reply:
        return error(404, f"Not found: {self._op.id} ({self._op.method} {self._op.template}) is not served by the "
                          "gateway: a single node's business (the gateway's own backups are `rgw backup`)")


def root(request: Request, params: Params, send: Send) -> bool:
    # qdrant-client reads `version` to check compatibility; we speak this API version.
    send(Reply(200, _ROOT))
    return True


_ROOT = orjson.dumps({"title": "qdrant - vector search engine", "version": QDRANT_API_VERSION,
                      "gateway": f"retrieval-gateway {__version__}"})


def probe(request: Request, params: Params, send: Send) -> bool:
    send(Reply(200, f"{request.path.strip('/')} check passed".encode(), TEXT))
    return True


SEARCH_FIELDS: dict[str, type | tuple[type, ...]] = {
    "text": str, "vector": (list, dict), "filter": dict, "limit": int, "offset": int, "with_payload": (bool, list),
    "using": str}


class GatewaySearch:
    """`POST /gateway/collections/{name}/search`: text and/or vector in, hits plus provenance out.

    With a vector the regions answer as for points/query; the text lets the lexical source answer
    when they cannot. The provenance is in the body as well as in the headers.
    """

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def handle(self, request: Request, params: Params) -> Reply:
        started = time.perf_counter()
        collection = params["collection_name"]
        try:
            body = orjson.loads(request.body or b"")
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
            answer = await self._reader.read(ReadRequest(
                "query_points", "POST", collection_path(collection, "points", "query"), orjson.dumps(query),
                collection, min_lsn(request.headers.get), body.get("text"), vectorless="vector" not in body))
        except (NoSourceAvailable, QdrantError) as exc:
            return failed(exc, started)
        if answer.reply.status != 200:
            return Reply(answer.reply.status, answer.reply.body, JSON, provenance(answer))
        try:
            points = orjson.loads(answer.reply.body)["result"]["points"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return error(502, f"Bad gateway: {answer.source} answered something that is not a query result",
                         started, headers=provenance(answer))
        result = {"points": points, "source": answer.source, "mode": answer.mode, "coverage": answer.coverage,
                  "staleness_s": round(answer.staleness_s, 3)}
        return ok(result, started, headers=provenance(answer))
