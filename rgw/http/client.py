"""Keep-alive HTTP/1.1 connections to one host (a region), responses parsed by llhttp (httptools).

The gateway's hot path needs exactly this: write a request, read status, content type and body
bytes back, reuse the connection. A general client (aiohttp's) builds request and response
objects, cookie jars and header multidicts on every call; measured here that cost more CPU than
the rest of the gateway together. Responses may be sized by Content-Length, chunked, or
delimited by the connection's close, and are bounded in size.

Two ways in. `Pool.request` is a coroutine, for callers that simply await an answer.
`Pool.start` returns an `Exchange` that calls back, synchronously, from the connection's
`data_received` when the answer is complete: the read router races attempts with it without
wrapping each one in an asyncio.Task.

A request line or header that would carry CR, LF, NUL or (in the target) a space is refused
before anything is written: what the gateway sends a region is exactly one request.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

import httptools

DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class ConnectionFailed(Exception):
    """The peer refused, reset or closed the connection before a whole response arrived."""


class ConnectionReset(ConnectionFailed):
    """The connection was open and the peer closed or reset it before the whole response."""


class ProtocolViolation(Exception):
    """The peer answered something that is not HTTP/1.x, or more than the size bound."""


class UnsafeRequest(ValueError):
    """A request line or header that would not be exactly one request on the wire (CR, LF, NUL...)."""


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class Response:
    status: int
    content_type: str
    body: bytes

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status, self.content_type, self.body = status, content_type, body


_NOT_IN_A_TARGET: Final = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")  # controls, space, and anything not ASCII


def check_target(target: str) -> None:
    """Refuse a request target that is not one token of visible ASCII (no space, CR, LF, NUL)."""
    if not target.startswith("/") or _NOT_IN_A_TARGET.search(target) is not None:
        raise UnsafeRequest(f"request target {target[:80]!r} holds a character that cannot go on a request line")


def header_line(name: str, value: str) -> bytes:
    """`name: value` + CRLF, refused when the value holds CR, LF or NUL (it would end the line, or the head)."""
    if "\r" in value or "\n" in value or "\0" in value or not value.isascii():
        raise UnsafeRequest(f"header {name} holds a line break, a NUL or a non-ASCII character")
    return f"{name}: {value}\r\n".encode()


QUEUED, ACTIVE, FINISHED = 0, 1, 2


class Exchange:
    """One request on a pool. Ends exactly once: with `response`, with `error`, or cancelled.

    `on_done(exchange)` is called synchronously when it ends by itself (never on `cancel`), from
    inside the event loop's I/O callbacks: it must be quick and must not raise.
    """

    __slots__ = ("_connection", "_data", "_on_done", "_pool", "_reused", "_state", "_task", "error", "response")

    def __init__(self, pool: Pool, data: bytes, on_done: Callable[[Exchange], None]) -> None:
        self._pool = pool
        self._data = data
        self._on_done = on_done
        self._state = QUEUED
        self._connection: _Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._reused = False
        self.response: Response | None = None
        self.error: ConnectionFailed | ProtocolViolation | None = None

    @property
    def finished(self) -> bool:
        return self._state == FINISHED

    def cancel(self) -> None:
        """Give up (timeout, a hedge won, the caller was cancelled); a connection mid-exchange is dropped."""
        state = self._state
        if state == FINISHED:
            return
        self._state = FINISHED
        if state == QUEUED:
            self._pool._unqueue(self)
            return
        if self._task is not None:
            self._task.cancel()
            self._task = None
        connection = self._connection
        if connection is not None:
            self._connection = None
            connection.abort()  # its state is unknown: it may still answer this request
        self._pool._finished(None)

    def _succeeded(self, response: Response, connection: _Connection | None) -> None:
        self._state = FINISHED
        self._connection = None
        self.response = response
        self._pool._finished(connection)
        self._on_done(self)

    def _failed(self, error: ConnectionFailed | ProtocolViolation) -> None:
        self._state = FINISHED
        connection = self._connection
        if connection is not None:
            self._connection = None
            connection.abort()
        self.error = error
        self._pool._finished(None)
        self._on_done(self)

    def _lost(self, responded: bool, exc: Exception | None) -> None:
        self._connection = None
        if self._reused and not responded:
            # A reused keep-alive connection the server had already closed: it never saw the
            # request, so sending it once more on a fresh connection is safe.
            self._pool._connect(self)
        else:
            self._failed(ConnectionReset(f"connection closed by peer{f': {exc}' if exc else ''}"))


class _Connection(asyncio.Protocol):
    """One keep-alive connection; the parser is fed what arrives while an exchange waits on it."""

    __slots__ = ("_began", "_body", "_complete", "_content_type", "_exchange", "_framed", "_keep_alive", "_max_body",
                 "_out_of_step", "_parser", "_size", "_status", "closed", "transport")

    def __init__(self, max_body: int) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._max_body = max_body
        self._exchange: Exchange | None = None
        self._content_type = "application/json"
        self._body: list[bytes] = []
        self._size = 0
        self._complete = False
        self._began = False  # this exchange's answer has started arriving
        self._framed = False  # ... with a Content-Length or Transfer-Encoding (else it ends at the close)
        self._status = 0
        self._keep_alive = False  # read while llhttp still has the message's flags (they reset after it)
        self._out_of_step = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, exchange: Exchange) -> None:
        assert self.transport is not None
        self._exchange = exchange
        self._began = False
        exchange._connection = self
        self.transport.write(exchange._data)

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._complete:
            self._out_of_step = True  # bytes after the answer: the connection cannot be trusted again
        if self._out_of_step:
            return  # ... and what follows is not read
        self._began = True
        self._content_type = "application/json"
        self._body = []
        self._size = 0
        self._framed = False
        self._status = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._out_of_step:
            return
        # Lengths first: most fields are none of these three, and lower-casing each costs more than all the rest.
        size = len(name)
        if size == 12 and name.lower() == b"content-type":
            self._content_type = value.decode("latin-1").strip()
        elif size == 14 and name.lower() == b"content-length":
            self._framed = True
            if int(value) > self._max_body:  # llhttp checked the digits
                raise ProtocolViolation(f"response of {int(value)} bytes exceeds the {self._max_body}-byte bound")
        elif size == 17 and name.lower() == b"transfer-encoding":
            self._framed = True

    def on_body(self, data: bytes) -> None:
        if self._out_of_step:
            return
        self._size += len(data)
        if self._size > self._max_body:
            raise ProtocolViolation(f"response exceeds the {self._max_body}-byte bound")
        self._body.append(data)

    def on_headers_complete(self) -> None:
        if not self._out_of_step:
            self._status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        if not self._out_of_step and self._status >= 200:  # an interim 1xx is not the answer
            self._complete = True
            self._keep_alive = self._parser.should_keep_alive()

    # -- asyncio.Protocol ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        exchange = self._exchange
        if exchange is None:
            self.abort()  # bytes nobody asked for: the connection is out of step, drop it
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            self._fail(exchange, cause if isinstance(cause, ProtocolViolation) else ProtocolViolation(str(exc)))
            return
        except httptools.HttpParserError as exc:
            self._fail(exchange, ProtocolViolation(f"malformed response: {exc}"))
            return
        if self._complete:
            self._finish(exchange, keep=self._keep_alive and not self._out_of_step)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self._exchange
        if exchange is None:
            return
        self._exchange = None
        if self._began and not self._framed and not self._complete and self._status >= 200:
            self._finish(exchange, keep=False)  # the close itself ended the body
        else:
            exchange._lost(self._began, exc)

    def _finish(self, exchange: Exchange, keep: bool) -> None:
        body = self._body
        response = Response(self._status, self._content_type,
                            body[0] if len(body) == 1 else b"".join(body))
        self._exchange = None
        self._body = []
        self._complete = False
        if not keep:
            self.abort()
        exchange._succeeded(response, self if keep else None)

    def _fail(self, exchange: Exchange, error: ProtocolViolation) -> None:
        self._exchange = None
        exchange._failed(error)

    def abort(self) -> None:
        self.closed = True
        self._exchange = None
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Keep-alive connections to one host:port, bounded like Envoy's max_connections."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None, max_connections: int = 512,
                 max_idle: int = 64, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._max_response_bytes = max_response_bytes
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._idle: deque[_Connection] = deque()
        self._max_idle = max_idle
        self._max_active = max_connections
        self._active = 0  # exchanges holding a connection slot
        self._queued: deque[Exchange] = deque()  # waiting for a slot, in arrival order

    def start(self, method: str, path: str, body: bytes | None, headers: bytes,
              on_done: Callable[[Exchange], None]) -> Exchange:
        """Send one request (now, when a connection is idle); `headers` are pre-encoded lines ending in CRLF,
        made by `header_line` (a region client makes its own once: they never change).

        Raises UnsafeRequest, before anything is sent, for a target that would not stay one request line.
        """
        check_target(path)
        head = b"%s %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n" % (
            method.encode(), path.encode(), self._host_header, headers, len(body) if body else 0)
        exchange = Exchange(self, head + body if body else head, on_done)
        if self._active < self._max_active:
            self._active += 1
            self._dispatch(exchange)
        else:
            self._queued.append(exchange)
        return exchange

    async def request(self, method: str, path: str, body: bytes | None, headers: bytes = b"") -> Response:
        """Send one request and wait for its response; `headers` as for `start`."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def finished(_: Exchange) -> None:
            if not done.done():
                done.set_result(None)

        exchange = self.start(method, path, body, headers, finished)
        try:
            await done
        except asyncio.CancelledError:
            exchange.cancel()
            raise
        if exchange.error is not None:
            raise exchange.error
        assert exchange.response is not None
        return exchange.response

    def _dispatch(self, exchange: Exchange) -> None:
        exchange._state = ACTIVE
        idle = self._idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                exchange._reused = True
                connection.send(exchange)
                return
        self._connect(exchange)

    def _connect(self, exchange: Exchange) -> None:
        exchange._reused = False
        exchange._task = asyncio.get_running_loop().create_task(self._open(exchange))

    async def _open(self, exchange: Exchange) -> None:
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(self._max_response_bytes), self._host, self._port, ssl=self._tls,
                server_hostname=self._host if self._tls is not None else None)
        except OSError as exc:
            exchange._task = None
            exchange._failed(ConnectionFailed(f"cannot connect to {self._host}:{self._port}: "
                                              f"{exc.strerror or exc}"))
            return
        exchange._task = None
        connection.send(exchange)

    def _finished(self, connection: _Connection | None) -> None:
        """An active exchange ended; keep its connection when reusable and hand its slot on."""
        if connection is not None and not connection.closed:
            if len(self._idle) >= self._max_idle:
                connection.abort()
            else:
                self._idle.append(connection)
        if self._queued:
            self._dispatch(self._queued.popleft())
        else:
            self._active -= 1

    def _unqueue(self, exchange: Exchange) -> None:
        self._queued.remove(exchange)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().abort()
