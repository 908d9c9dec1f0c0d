"""The gateway's front door: HTTP/1.1 connections parsed by llhttp (httptools), answered in order.

Every request to the gateway's port comes through here, the operator's included. The parser is
strict: what llhttp refuses (Content-Length with Transfer-Encoding, differing Content-Lengths,
obs-fold, a bare LF, NUL bytes...) gets a 400 and the connection is closed; a request is never
given a second interpretation. Everything one client can make the gateway hold is bounded (see
settings.config.Limits): head size and header count (431), body size (413), requests parsed
ahead of the one being answered (reading pauses), the time a head or body may take (408), idle
keep-alive, and a client that stops reading its answers.

Requests on one connection are answered one at a time, in order. An answer may be sent from
inside `Application.handle_now` (from a region's callback, with no task) or from the task that
`Application.handle` runs in; either way the next request starts from the loop in `_drain`,
never by recursion, so any number of pipelined requests costs constant stack.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final, Protocol, cast

import httptools

from rgw.settings.config import Limits

log = logging.getLogger("rgw.front")

SWEEP_INTERVAL_S = 1.0
FEED_BYTES = 16384  # bytes fed to the parser at a time, so a burst of pipelined requests stays bounded
BACKLOG_BYTES = 1 << 20  # unparsed bytes held while requests wait, before reading pauses
# Closing a socket with unread input makes the kernel send a reset, which can destroy answers the
# client has not read yet: after its last answer a connection is half-closed and drained for a
# while (nginx's lingering close), then closed.
LINGER_S = 2.0
REASONS: Final = {s.value: s.phrase for s in HTTPStatus}
_METHODS: Final = {m.encode(): m for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")}
_NAMES: Final[dict[bytes, str]] = {}  # header names as sent -> lower-case text
MAX_REMEMBERED_NAMES = 512
# Control characters have no place in a header value: a region's error text (an HTML page from a
# load balancer, say) may hold CR/LF, and must neither break the answer nor inject a header.
_CONTROLS: Final = {c: " " for c in [*range(0, 9), *range(10, 32), 127]}


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class Request:
    method: str
    target: str  # path and query in origin form, as sent (an absolute-form target is reduced to it)
    path: str  # target without its query
    headers: dict[str, str]  # lower-case names, latin-1 values; the first of repeated fields
    body: bytes | None  # None when the request had no body; decoded when it came compressed
    keep_alive: bool
    peer: str  # the client's address, for logs and audit
    route: Any  # the application's own note about this request (its route), kept across handle_now/handle
    caller: Any  # who the application decided is asking (rgw.auth.caller.Caller); None until it decides

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes | None = None,
                 keep_alive: bool = True, peer: str = "") -> None:
        self.method, self.target, self.headers, self.body = method, target, headers, body
        query = target.find("?")
        self.path = target if query < 0 else target[:query]
        self.keep_alive, self.peer, self.route, self.caller = keep_alive, peer, None, None


Fields = tuple[tuple[str, str], ...]  # response header (name, value) pairs; hashable, so renderings are kept


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: Fields

    def __init__(self, status: int, body: bytes, content_type: str = "application/json", headers: Fields = ()) -> None:
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers


class Application(Protocol):
    """What the server serves (rgw.gateway.front.Front)."""

    def handle_now(self, request: Request, send: Callable[[Reply], None]) -> bool:
        """Start serving without a task; `send(reply)` is called once, later. False: `handle` serves it."""
        ...

    def handle(self, request: Request) -> Awaitable[Reply]: ...

    def refused(self, status: int, message: str) -> Reply:
        """The answer to a request the server itself refuses (malformed, too large, too slow), in the API's
        error shape; also the 500 when the application raised (the exception is logged)."""
        ...


class Refused(Exception):
    """A request the server refuses before the application sees it; the connection closes after the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpServer:
    """The connections this server owns, their deadlines, and shutting them down."""

    def __init__(self, app: Application, limits: Limits, sweep_interval: float = SWEEP_INTERVAL_S) -> None:
        self.app = app
        self.limits = limits
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
    return text.translate(_CONTROLS).encode("latin-1", "replace")


@functools.lru_cache(maxsize=1024)  # a few provenance sets answer nearly every request
def render_fields(fields: Fields) -> bytes:
    """Header lines for `fields`; the one place every response header value is made safe to send."""
    return "".join(f"{name}: {value.translate(_CONTROLS)}\r\n" for name, value in fields).encode("latin-1", "replace")


def _origin_form(url: str) -> str:
    """The path and query of a request target; an absolute-form one (RFC 9112 3.2.2) loses scheme and authority."""
    if not url.isascii():  # llhttp refuses control characters and spaces in a target; isascii() is O(1)
        raise Refused(400, "Bad request: a request target is ASCII (percent-encode anything else)")
    if url.startswith("/"):
        return url
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        slash = rest.find("/")
        query = rest.find("?")
        if slash < 0 or 0 <= query < slash:
            return "/" + rest[query:] if query >= 0 else "/"
        return rest[slash:]
    raise Refused(400, f"Bad request: request target {url[:60]!r} is neither a path nor an absolute URL")


def _decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """A body sent with Content-Encoding, decoded; at most `limit` bytes come out (a small bomb stays small)."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise Refused(415, f"Unsupported media type: Content-Encoding {encoding[:40]!r} (use gzip or deflate)")
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding != "deflate" else zlib.MAX_WBITS)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Refused(400, f"Bad request: the body is not valid {encoding}: {exc}") from exc
    if len(out) > limit:
        raise Refused(413, f"Payload too large: the decoded body exceeds {limit} bytes")
    if not decoder.eof:
        raise Refused(400, f"Bad request: the {encoding} body is truncated")
    return out


class Connection(asyncio.Protocol):
    """One client connection: parsing, the queue of parsed requests, answers in order, deadlines."""

    def __init__(self, server: HttpServer, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._limits = server.limits
        self._loop = loop  # kept: asyncio.get_running_loop() costs a getpid() system call each time
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._parser = httptools.HttpRequestParser(self)
        # The request being parsed.
        self._url: list[bytes] = []
        self._headers: dict[str, str] = {}
        self._header_count = 0
        self._head_bytes = 0  # bytes of the head parsed so far (request line and header fields)
        self._arrived = 0  # bytes fed since the head began: httptools keeps a partial field until its end
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._in_head = True  # between a request's first byte and its headers' end (or waiting for one)
        self._started_head = False  # a new head has started arriving (its deadline is set)
        self._version_checked = False  # the connection's HTTP version was read once (see on_headers_complete)
        self._keep_alive = True  # of the request being answered
        self._sender: Callable[[Reply], None] = self._send  # made once: a bound method is an allocation
        # What was parsed and waits, and what could not be parsed yet.
        self._queue: deque[Request] = deque()
        self._unfed = b""  # bytes held back while enough requests wait
        self._refusal: Reply | None = None  # sent, and the connection closed, once the queue is answered
        self._close_after_queue = False  # an upgrade: the bytes after the request are not HTTP
        self._draining = False
        self._lingering = False  # answered for the last time: what arrives now is read and dropped
        self._input_ended = False  # the client half-closed: answer what it asked, then close
        self._read_paused = False
        self._write_paused = False
        self.busy = False  # a request is being answered
        self.deadline: float | None = None  # loop time after which the sweeper acts on this connection

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer or "")
        self._server.connections.add(self)
        self.deadline = self._loop.time() + self._limits.keepalive_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        self._queue.clear()
        self._unfed = b""
        self._body = []
        self.deadline = None

    def eof_received(self) -> bool:
        self._input_ended = True
        self._drain()
        return True  # keep the transport: answers may still be on their way

    def pause_writing(self) -> None:
        self._write_paused = True
        self.deadline = self._loop.time() + self._limits.send_timeout_s

    def resume_writing(self) -> None:
        self._write_paused = False
        self._settle_deadline()
        self._drain()

    def data_received(self, data: bytes) -> None:
        if self._lingering or self._refusal is not None or self._close_after_queue:
            return  # the parser stopped: whatever follows is not read
        if self._unfed or len(self._queue) >= self._limits.max_pipelined:
            self._hold(data)
        else:
            self._feed(data)
        self._drain()

    # -- parsing (httptools callbacks) ------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._limits.max_headers:
            raise Refused(431, f"Request header fields too large: more than {self._limits.max_headers} fields")
        self._count_head(len(name) + len(value) + 4)
        key = _NAMES.get(name)  # clients send the same few names: decoded and lower-cased once
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_NAMES) < MAX_REMEMBERED_NAMES:
                _NAMES[name] = key
        if key in self._headers:
            if key == "host":  # RFC 9112 3.2: more than one Host is a 400
                raise Refused(400, "Bad request: more than one Host header")
            return
        text = value.decode("latin-1")  # llhttp drops the whitespace before a value, not after it
        self._headers[key] = text.rstrip(" \t") if text and text[-1] in " \t" else text

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arrived = 0
        headers = self._headers
        # Reading the version costs more than the rest of the head: once per connection (a client keeps
        # its version), and again whenever Host is missing, which HTTP/1.1 forbids.
        if not self._version_checked or "host" not in headers:
            self._version_checked = True
            version = self._parser.get_http_version()
            if version not in ("1.1", "1.0"):
                raise Refused(505, f"HTTP version not supported: {version} (HTTP/1.1 and 1.0 are)")
            if version == "1.1" and "host" not in headers:
                raise Refused(400, "Bad request: HTTP/1.1 requires a Host header")
        length = headers.get("content-length")
        if length is not None and int(length) > self._limits.max_request_bytes:  # llhttp checked its digits
            raise Refused(413, f"Payload too large: request body exceeds {self._limits.max_request_bytes} bytes")
        expect = headers.get("expect")
        if expect is not None:
            if expect.lower() != "100-continue":
                raise Refused(417, f"Expectation failed: {expect[:40]!r} (only 100-continue is understood)")
            if not self.busy and not self._queue and self._transport is not None:
                # With requests ahead of it, the interim answer would come out of order; the
                # client sends its body after its own short wait instead (RFC 9110 10.1.1).
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not self.busy and not self._queue:
            self.deadline = self._loop.time() + self._limits.body_timeout_s

    def on_body(self, data: bytes) -> None:
        self._body_bytes += len(data)
        if self._body_bytes > self._limits.max_request_bytes:
            raise Refused(413, f"Payload too large: request body exceeds {self._limits.max_request_bytes} bytes")
        self._body.append(data)

    def on_message_complete(self) -> None:
        parts = self._url
        url = (parts[0] if len(parts) == 1 else b"".join(parts)).decode("latin-1")
        body: bytes | None = None
        if self._body:
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            encoding = self._headers.get("content-encoding")
            if encoding is not None:
                body = _decoded(body, encoding.strip().lower(), self._limits.max_request_bytes)
        raw_method = cast(bytes, self._parser.get_method())
        method = _METHODS.get(raw_method) or raw_method.decode("latin-1")
        self._queue.append(Request(method, _origin_form(url), self._headers, body, self._parser.should_keep_alive(),
                                   self._peer))
        # Ready for the next message here rather than in on_message_begin: one callback less per request.
        self._url = []
        self._headers = {}
        self._header_count = 0
        self._head_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._in_head = True
        self._started_head = False

    def _head_started(self) -> None:
        """A head began arriving: it must be whole within head_timeout_s (set once: trickling does not extend it)."""
        if not self._started_head:
            self._started_head = True
            if not self.busy and not self._queue:
                self.deadline = self._loop.time() + self._limits.head_timeout_s

    def _count_head(self, size: int) -> None:
        # Precise bound on the parsed head (data_received bounds what is still arriving).
        self._head_bytes += size
        if self._head_bytes > self._limits.max_head_bytes:
            raise Refused(431, f"Request header fields too large: the head exceeds {self._limits.max_head_bytes} bytes")

    def _feed(self, data: bytes) -> None:
        """Parse `data`, in pieces, until enough requests wait; the rest is held back."""
        view = memoryview(data) if len(data) > FEED_BYTES else None
        at = 0
        while at < len(data):
            if len(self._queue) >= self._limits.max_pipelined:
                self._hold(data[at:])
                return
            piece: bytes | memoryview = data if view is None else view[at:at + FEED_BYTES]
            at += len(piece)
            if self._in_head:
                self._head_started()
                self._arrived += len(piece)
                if self._arrived > self._limits.max_head_bytes + FEED_BYTES:
                    self._refuse(431, f"Request header fields too large: the head exceeds "
                                      f"{self._limits.max_head_bytes} bytes")
                    return
            try:
                self._parser.feed_data(piece)
            except httptools.HttpParserUpgrade:
                # Answer the request that asked (Upgrade is not served); what follows it is not HTTP.
                self._close_after_queue = True
                return
            except httptools.HttpParserCallbackError as exc:
                cause = exc.__context__
                if isinstance(cause, Refused):
                    self._refuse(cause.status, cause.message)
                else:
                    log.error("front door: parser callback failed", exc_info=cause)
                    self._refuse(500, "Service internal error: the gateway failed to read this request (logged)")
                return
            except httptools.HttpParserError as exc:
                self._refuse(400, f"Bad request: malformed HTTP/1.1 ({exc})")
                return

    def _hold(self, data: bytes) -> None:
        self._unfed = self._unfed + data if self._unfed else data
        if len(self._unfed) > BACKLOG_BYTES and not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _refuse(self, status: int, message: str) -> None:
        """Stop parsing; answer what was parsed before, then this refusal, then close."""
        self._refusal = self._server.app.refused(status, message)
        self._unfed = b""
        if self._transport is not None and not self._read_paused:
            self._read_paused = True
            self._transport.pause_reading()

    # -- answering ----------------------------------------------------------------------------
    def _drain(self) -> None:
        """Start queued requests one after another while each is answered at once; never recursive."""
        if self._draining or self._lingering:
            return  # an answer sent from inside the loop below: the loop goes on
        self._draining = True
        try:
            while not self.busy and not self._write_paused and self._transport is not None:
                if self._queue:
                    self._start(self._queue.popleft())
                elif self._unfed and self._refusal is None and not self._close_after_queue:
                    data, self._unfed = self._unfed, b""
                    self._feed(data)
                    if not self._queue:
                        break
                elif self._refusal is not None:
                    self._write(self._refusal, close=True)
                    break
                elif self._close_after_queue or self._input_ended:
                    self._linger()
                    break
                else:
                    break
        finally:
            self._draining = False
        if (self._read_paused and self._refusal is None and self._transport is not None
                and len(self._unfed) <= BACKLOG_BYTES and len(self._queue) < self._limits.max_pipelined):
            self._read_paused = False
            self._transport.resume_reading()

    def _start(self, request: Request) -> None:
        self.busy = True
        self.deadline = None
        self._keep_alive = request.keep_alive  # one request is answered at a time: its answer reads this
        app = self._server.app
        send = self._sender
        try:
            if app.handle_now(request, send):
                return
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.target)
            send(app.refused(500, "Service internal error: the gateway failed on this request (logged)"))
            return
        self._loop.create_task(self._serve(request, send))

    async def _serve(self, request: Request, send: Callable[[Reply], None]) -> None:
        app = self._server.app
        try:
            reply = await app.handle(request)
        except Exception:
            # Whatever a client sends, it gets an answer in the API's error shape, and the gateway lives on.
            log.exception("unhandled error on %s %s", request.method, request.target)
            reply = app.refused(500, "Service internal error: the gateway failed on this request (logged)")
        send(reply)

    def _send(self, reply: Reply) -> None:
        self.busy = False
        close = not self._keep_alive or self._server.closing
        self._write(reply, close)
        if not close:
            self._settle_deadline()
            self._drain()

    def _write(self, reply: Reply, close: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._lingering:
            return
        body = reply.body
        transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n%s%s\r\n%s" % (
            reply.status, _reason(reply.status), _latin1(reply.content_type), len(body), self._server.date_bytes,
            render_fields(reply.headers), b"Connection: close\r\n" if close else b"", body))
        if close:
            self._linger()

    def _linger(self) -> None:
        """No more answers: half-close, drop what still arrives for LINGER_S, then close."""
        transport = self._transport
        if transport is None or self._lingering:
            return
        self._lingering = True
        self._queue.clear()
        self._unfed = b""
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self.deadline = self._loop.time() + LINGER_S
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()

    def _settle_deadline(self) -> None:
        """The deadline that applies now nothing is being answered: a head under way, or idle keep-alive."""
        if self.busy or self._queue:
            self.deadline = None
        elif self._write_paused:
            self.deadline = self._loop.time() + self._limits.send_timeout_s
        elif self._started_head or not self._in_head:
            self.deadline = self._loop.time() + (
                self._limits.head_timeout_s if self._in_head else self._limits.body_timeout_s)
        else:
            self.deadline = self._loop.time() + self._limits.keepalive_timeout_s

    def expire(self) -> None:
        """The sweeper found this connection past its deadline."""
        transport = self._transport
        self.deadline = None
        if transport is None:
            return
        if self._lingering:
            transport.close()
            return
        if self._write_paused:
            transport.abort()  # the client stopped reading its answers: nothing more can reach it
            return
        if self.busy or self._queue:
            return  # an answer is being made; the deadlines apply again once it is sent
        if self._started_head or not self._in_head:
            # A request started and did not finish arriving in time (a slow or stalled client).
            self._write(self._server.app.refused(408, "Request timeout: the request did not arrive in time"),
                        close=True)
            return
        transport.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
