"""The gateway's front door: a small HTTP/1.1 server for its own API, handing anything unusual to aiohttp.

Why: measured on this project's machine, aiohttp's server costs 89-110 µs of CPU per request at
concurrency 1 (its low-level `web.Server` alone 89 µs); a proxy built on it cannot stay under
the gateway's 150 µs budget before doing any routing. This protocol parses the plain requests
applications send (a request line, a few headers, a Content-Length body) and answers them
itself, with one write per response: reads the API can start at once (`Api.handle_now`) are answered
from their upstream's callback, anything else from a task of its own.

Robustness is borrowed, not re-implemented: the moment a connection sends anything this parser
does not fully understand (a malformed or HTTP/1.0 request line, a head over 8 KiB, chunked
bodies, `Expect`, `Upgrade`, a body over the size limit, duplicate Content-Length, a path the
API does not claim), the connection is handed, with every byte read so far, to aiohttp's
protocol for the rest of its life, which answers exactly as it did when it served everything.
What this protocol does own it bounds: pipelined requests are answered one at a time in order,
reading pauses while a backlog waits, a request head must arrive within `HEAD_TIMEOUT_S` and its
body within `BODY_TIMEOUT_S` (slowloris), and an idle keep-alive connection closes after
`KEEPALIVE_TIMEOUT_S`, as aiohttp's does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final, Protocol, cast

from rgw.http.client import parse_digits

log = logging.getLogger("rgw.h1server")

MAX_HEAD_BYTES = 8190  # aiohttp's max_line_size / max_field_size: a longer head goes to it to refuse
HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0
KEEPALIVE_TIMEOUT_S = 75.0  # aiohttp's run_app default
SWEEP_INTERVAL_S = 1.0
BACKLOG_BYTES = 1 << 20  # pipelined bytes buffered while a request is in flight before reading pauses
# Heads are matched as latin-1 text (see parse_head). Final: mypyc keeps these in C statics rather
# than looking them up in the module's dict on every request.
_REQUEST_LINE: Final = re.compile(r"(GET|POST|PUT|PATCH|DELETE) (/[!-~]*) HTTP/1\.1")
# Header lines as RFC 9110 spells them: a token, a colon, a value of visible bytes, spaces and tabs.
_HEADER_BLOCK: Final = re.compile(r"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
# Request headers that change how a request is framed, decoded or answered: aiohttp handles those.
HAND_OVER_HEADERS = frozenset({"transfer-encoding", "expect", "upgrade", "content-encoding"})
# What aiohttp's parser refuses to see twice (RFC 9110 singletons), and how many headers it takes.
SINGLETON_HEADERS = frozenset({"content-length", "content-location", "content-range", "content-type", "etag",
                               "host", "max-forwards", "server", "transfer-encoding", "user-agent"})
MAX_HEADERS = 128
MAX_REMEMBERED_HEADS = 256  # distinct header blocks, and request lines, kept parsed (clients repeat theirs)
REASONS = {s.value: s.phrase for s in HTTPStatus}


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (rgw.compiled)
class Request:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # lower-case names; shared between requests (see parse_head): read only
    body: bytes | None  # None when the request had no body
    route: Any  # what Api.route said about it
    close: bool  # the client sent Connection: close

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes | None, route: Any,
                 close: bool = False) -> None:
        self.method, self.target, self.headers, self.body, self.route, self.close = (
            method, target, headers, body, route, close)


Fields = tuple[tuple[str, str], ...]  # response header (name, value) pairs; hashable, so renderings are kept


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (rgw.compiled)
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: Fields

    def __init__(self, status: int, body: bytes, content_type: str = "application/json", headers: Fields = ()) -> None:
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers


class Api(Protocol):
    """What the server serves (rgw.proxy.api.GatewayApi)."""

    max_body: int

    def route(self, method: str, target: str) -> Any:
        """How this API serves the request (kept as Request.route), or None: its connection goes to aiohttp."""
        ...

    def handle(self, request: Request) -> Awaitable[Reply]: ...

    def handle_now(self, request: Request, send: Callable[[Reply], None]) -> bool:
        """Start serving without a task; `send(reply)` is called once, later. False: `handle` serves it."""
        ...

    def crashed(self) -> Reply:
        """The answer when `handle` raised, in the API's error shape (the exception is logged)."""
        ...

    def timed_out(self) -> Reply:
        """The answer to a request that did not arrive in time."""
        ...


def parse_head(head: bytes) -> tuple[str, str, dict[str, str], int, bool] | None:
    """(method, target, headers, content length, Connection: close) of a plain HTTP/1.1 request head.

    None means "not plain": the caller hands the connection to aiohttp, which accepts or refuses.
    `headers` (lower-case names, the first of repeated ones; Content-Length left out) may be
    shared between requests: read it, never change it.
    """
    # Read as latin-1, one character per byte: compiled by mypyc, str's find, lower and strip are
    # direct C calls, while each bytes method is a generic call of ~1k instructions.
    text = head.decode("latin-1")
    line_end = text.find("\r\n")
    if line_end < 0:
        return None  # no Host header: HTTP/1.1 requires it, aiohttp refuses the request
    request = _request_line(text[:line_end])
    if request is None:
        return None
    block = text[line_end + 2:] + "\r\n"
    # A client sends the same header lines on every request but for Content-Length's value: the
    # lines without that value are parsed once and remembered. (Lower-casing latin-1 text keeps
    # every character where it was, so positions in `lower` are positions in `block`.)
    lower = block.lower()
    at = 0 if lower.startswith("content-length:") else lower.find("\ncontent-length:")
    length = 0
    if at >= 0:
        at += at > 0  # past the newline
        value_at = at + len("content-length:")
        value_end = lower.find("\r\n", value_at)  # found: the block ends with one
        length = parse_digits(lower[value_at:value_end].strip(" \t"))
        if length < 0:
            return None
        block = block[:value_at] + block[value_end:]
    if block in _FIELDS:
        fields = _FIELDS[block]
    else:
        if len(_FIELDS) >= MAX_REMEMBERED_HEADS:
            _FIELDS.clear()
        fields = _FIELDS[block] = _parse_fields(block)
    if fields is None:
        return None
    return request[0], request[1], fields[0], length, fields[1]


def _request_line(line: str) -> tuple[str, str] | None:
    """(method, target) of a plain request line, None if not plain; remembered like header blocks.

    Clients repeat a few request lines (the gateway's own queries, one per collection): compiled,
    a remembered line costs about 0.7k instructions, the regular expression and its groups 3.3k.
    """
    if line in _LINES:
        return _LINES[line]
    if len(_LINES) >= MAX_REMEMBERED_HEADS:
        _LINES.clear()
    match = _REQUEST_LINE.fullmatch(line)
    parsed = _LINES[line] = None if match is None else (match[1], match[2])
    return parsed


def _parse_fields(block: str) -> tuple[dict[str, str], bool] | None:
    """(headers, Connection: close) of plain header lines (latin-1), each ending in CRLF; None if not plain."""
    if _HEADER_BLOCK.fullmatch(block) is None:
        return None
    # Decoded as aiohttp decodes them.
    lines = block.encode("latin-1").decode("utf-8", "surrogateescape").split("\r\n")[:-1]
    if len(lines) > MAX_HEADERS:
        return None
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name = name.lower()
        if name in headers:
            if name in SINGLETON_HEADERS:
                return None  # aiohttp refuses a repeated Host, Content-Length...: let it
            continue
        headers[name] = value.strip(" \t")
    if "host" not in headers or not HAND_OVER_HEADERS.isdisjoint(headers):
        return None  # HTTP/1.1 requires Host (aiohttp refuses without); framing it leaves to aiohttp
    headers.pop("content-length", None)
    return headers, "close" in headers.get("connection", "").lower()


_FIELDS: Final[dict[str, tuple[dict[str, str], bool] | None]] = {}  # header block (latin-1): its parse
_LINES: Final[dict[str, tuple[str, str] | None]] = {}  # request line (latin-1): its parse


class H1Server:
    """The connections this server owns, their timeouts, and the way out to aiohttp."""

    def __init__(self, api: Api, fallback: Callable[[], asyncio.Protocol], *, head_timeout: float = HEAD_TIMEOUT_S,
                 body_timeout: float = BODY_TIMEOUT_S, keepalive_timeout: float = KEEPALIVE_TIMEOUT_S,
                 sweep_interval: float = SWEEP_INTERVAL_S) -> None:
        self.api = api
        self.fallback = fallback  # a new aiohttp protocol (RequestHandler) for a handed-over connection
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.keepalive_timeout = keepalive_timeout
        self._sweep_interval = sweep_interval
        self.connections: set[Connection] = set()
        self.closing = False
        self.date_bytes = formatdate(usegmt=True).encode()
        self._sweeper: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> Connection:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self._sweep_interval, self._sweep)
        return Connection(self, self.loop)

    def _sweep(self) -> None:
        # One timer for every connection, rather than one per request: the deadlines only bound
        # slow or idle clients, so their precision is the sweep interval.
        assert self.loop is not None
        self.date_bytes = formatdate(usegmt=True).encode()
        now = self.loop.time()
        for connection in [c for c in self.connections if c.deadline is not None and c.deadline <= now]:
            connection.expire()
        self._sweeper = self.loop.call_later(self._sweep_interval, self._sweep)

    async def shutdown(self, timeout: float) -> None:
        """Stop taking requests, let those in flight answer (up to `timeout`), then close everything."""
        self.closing = True
        for connection in list(self.connections):
            if not connection.busy:
                connection.close()
        deadline = time.monotonic() + timeout
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


@functools.lru_cache(maxsize=64)
def _reason(status: int) -> bytes:
    return REASONS.get(status, "Unknown").encode()


@functools.lru_cache(maxsize=64)
def _latin1(text: str) -> bytes:
    return text.encode("latin-1")


@functools.lru_cache(maxsize=1024)  # a few provenance sets answer nearly every request
def _fields(fields: Fields) -> bytes:
    for name, value in fields:
        if "\r" in value or "\n" in value:
            raise ValueError(f"response header {name} holds a line break")
    return "".join(f"{name}: {value}\r\n" for name, value in fields).encode("latin-1")


class Connection(asyncio.Protocol):
    """One client connection, served here until it sends something only aiohttp should handle."""

    __slots__ = ("_body_head", "_buffer", "_close", "_have", "_length", "_loop", "_parts", "_read_paused",
                 "_receiving", "_server", "_transport", "_write_paused", "busy", "deadline")

    def __init__(self, server: H1Server, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._loop = loop  # kept: asyncio.get_running_loop() costs a getpid() system call each time
        self._transport: asyncio.Transport | None = None
        self._buffer = b""  # bytes not yet parsed: a head, or pipelined requests while busy
        self._body_head: Request | None = None  # a request whose body is arriving
        self._length = 0  # ... and its body's length
        self._parts: list[bytes] = []
        self._have = 0
        self._read_paused = False
        self._write_paused = False
        self._receiving = False  # a request's head has started arriving (and its deadline is set)
        self.busy = False  # a request is being handled; what follows waits in the buffer
        self._close = False  # ... and its client asked to close after it
        self.deadline: float | None = None  # loop time after which the sweeper closes this connection

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)
        self.deadline = self._loop.time() + self._server.keepalive_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        self._buffer = b""
        self._parts = []
        self.deadline = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if not self.busy:
            self._advance()

    def data_received(self, data: bytes) -> None:
        if self._body_head is not None:
            self._parts.append(data)
            self._have += len(data)
            if self._have >= self._length:
                self._body_complete()
            return
        self._buffer = self._buffer + data if self._buffer else data
        if self.busy:
            if len(self._buffer) > BACKLOG_BYTES and not self._read_paused and self._transport is not None:
                self._read_paused = True
                self._transport.pause_reading()
            return
        self._advance()

    # -- requests ----------------------------------------------------------------------------
    def _advance(self) -> None:
        """Start the next request in the buffer, if a whole one is there; hand over what is not plain."""
        if self.busy or self._write_paused or self._transport is None or self._server.closing:
            return
        buffer = self._buffer
        if not buffer:
            return
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                self._hand_over()
            elif not self._receiving:  # set once: trickling bytes must not extend it
                self._receiving = True
                self._set_deadline(self._server.head_timeout)
            return
        head = parse_head(buffer[:end]) if end <= MAX_HEAD_BYTES else None
        api = self._server.api
        if head is None or head[3] > api.max_body:
            self._hand_over()
            return
        method, target, headers, length, close = head
        route = api.route(method, target)
        if route is None:
            self._hand_over()
            return
        start = end + 4
        if length == 0:
            self._buffer = buffer[start:]
            self._start(Request(method, target, headers, None, route, close))
        elif len(buffer) - start >= length:
            self._buffer = buffer[start + length:]
            self._start(Request(method, target, headers, buffer[start:start + length], route, close))
        else:
            self._buffer = b""
            self._body_head = Request(method, target, headers, None, route, close)
            self._length = length
            self._parts = [buffer[start:]]
            self._have = len(buffer) - start
            self._set_deadline(self._server.body_timeout)

    def _body_complete(self) -> None:
        request = self._body_head
        assert request is not None
        data = b"".join(self._parts)
        self._body_head = None
        self._parts = []
        self._have = 0
        request.body = data[:self._length]
        self._buffer = data[self._length:]
        self._start(request)

    def _set_deadline(self, seconds: float) -> None:
        self.deadline = self._loop.time() + seconds

    def _start(self, request: Request) -> None:
        self.busy = True
        self._receiving = False
        self.deadline = None
        self._close = request.close
        # Most requests are reads the API starts from here and answers from its upstream's callback;
        # the rest get a task.
        try:
            if self._server.api.handle_now(request, self._send):
                return
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.target)
            self._send(self._server.api.crashed())
            return
        self._loop.create_task(self._serve(request))

    def _send(self, reply: Reply) -> None:
        close = self._close or self._server.closing
        try:
            data = self._encode(reply, close)
        except Exception:
            log.exception("could not encode a %d reply", reply.status)
            data = self._encode(self._server.api.crashed(), close)
        self._respond(data, close)

    async def _serve(self, request: Request) -> None:
        try:
            reply = await self._server.api.handle(request)
        except Exception:
            # Whatever a client sends, it gets an answer in the API's error shape, and the gateway lives on.
            log.exception("unhandled error on %s %s", request.method, request.target)
            reply = self._server.api.crashed()
        self._send(reply)

    def _respond(self, data: bytes, close: bool) -> None:
        transport = self._transport
        self.busy = False
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if close:
            transport.close()
            return
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        self.deadline = self._loop.time() + self._server.keepalive_timeout
        if self._buffer:
            self._advance()

    def _encode(self, reply: Reply, close: bool) -> bytes:
        body = reply.body
        return b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n%s%s\r\n%s" % (
            reply.status, _reason(reply.status), _latin1(reply.content_type), len(body), self._server.date_bytes,
            _fields(reply.headers), b"Connection: close\r\n" if close else b"", body)

    # -- the way out ---------------------------------------------------------------------------
    def _hand_over(self) -> None:
        """From here on aiohttp serves this connection, starting with every byte not yet answered."""
        transport = self._transport
        assert transport is not None
        data, self._buffer = self._buffer, b""
        self._server.connections.discard(self)
        self._transport = None
        self.deadline = None
        protocol = self._server.fallback()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self._read_paused:
            transport.resume_reading()
        if data:
            protocol.data_received(data)

    def expire(self) -> None:
        """The sweeper found this connection past its deadline."""
        transport = self._transport
        if transport is None:
            return
        if self._body_head is not None or self._buffer:
            # A request started and did not finish arriving in time (a slow or stalled client).
            reply = self._server.api.timed_out()
            transport.write(self._encode(reply, close=True))
        transport.close()
        self.deadline = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
