"""A minimal HTTP/1.1 client with keep-alive pooling, for forwarding bytes to one region.

The gateway's hot path needs exactly this: write a request, read status, content type and
body bytes back, reuse the connection. A general client (aiohttp's) builds request and
response objects, cookie jars and header multidicts on every call; measured here that cost
more CPU than the rest of the gateway together. Responses may be sized by Content-Length,
chunked, or delimited by connection close.

Two ways in. `Pool.request` is a coroutine, for callers that simply await an answer.
`Pool.start` returns an `Exchange` that calls back, synchronously, from the connection's
`data_received` when the answer is complete: the read router races attempts with it
without wrapping each one in an asyncio.Task, which on this path cost two extra turns of
the event loop (and their epoll calls) per query.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

MAX_HEAD_BYTES = 65536


class ConnectionFailed(Exception):
    """The peer refused, reset or closed the connection before a whole response arrived."""


class ProtocolViolation(Exception):
    """The peer answered something that is not HTTP/1.x."""


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (rgw.compiled)
class Response:
    status: int
    content_type: str
    body: bytes

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status, self.content_type, self.body = status, content_type, body


class _ResponseParser:
    """Incremental parser for one response; `feed` returns True once it is complete."""

    __slots__ = ("_buffer", "_chunked", "_chunked_body", "_chunks", "_have", "_length", "_to_close", "body",
                 "content_type", "keep_alive", "status")

    def __init__(self) -> None:
        self._buffer = b""  # the head, until it is complete
        self._chunked_body = bytearray()
        self._chunks: list[bytes] = []  # a Content-Length body, as it arrives (joined once)
        self._have = 0
        self.status = 0
        self.content_type = "application/json"
        self.keep_alive = True
        self._length: int | None = None
        self._chunked = False
        self._to_close = False
        self.body = b""

    def feed(self, data: bytes) -> bool:
        if not self.status:
            data = self._buffer + data if self._buffer else data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > MAX_HEAD_BYTES:
                    raise ProtocolViolation("response head larger than 64 KiB")
                self._buffer = data
                return False
            self._buffer = b""
            self._parse_head(data[:end])
            data = data[end + 4:]
        if self._length is not None:
            return self._feed_sized(data)
        if self._chunked:
            self._chunked_body += data
            return self._parse_chunks()
        self._chunks.append(data)  # delimited by close
        return False

    def _feed_sized(self, data: bytes) -> bool:
        # The common case, a whole response in one read, costs one slice and no joins.
        length = self._length
        assert length is not None
        if data:
            self._chunks.append(data)
            self._have += len(data)
        if self._have < length:
            return False
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)  # b"" when there are none
        if len(body) > length:
            self.keep_alive = False  # bytes after the response: the connection is out of step
            body = body[:length]
        self.body = body
        return True

    def finish_on_close(self) -> bool:
        """The peer closed: complete when the body was delimited by the close itself."""
        if self.status and self._to_close:
            self.body = b"".join(self._chunks)
            return True
        return False

    def _parse_head(self, head: bytes) -> None:
        # Read as latin-1, one character per byte: compiled by mypyc, str's find, split, lower and
        # strip are direct C calls, while each bytes method is a generic call of ~1k instructions.
        text = head.decode("latin-1")
        line_end = text.find("\r\n")
        parts = (text if line_end < 0 else text[:line_end]).split(" ", 2)
        status = parse_digits(parts[1]) if len(parts) >= 2 else -1
        if status < 0 or not parts[0].startswith("HTTP/1."):
            raise ProtocolViolation(f"bad status line {head[:80]!r}")
        self.keep_alive = parts[0] != "HTTP/1.0"
        # Four searches of the lower-cased head instead of a loop over every line (measured cheaper:
        # a loop pays a slice, a lower() and a lookup per line). The first of repeated fields counts.
        # Lower-casing latin-1 text keeps every character where it was, so positions in `lower` are
        # positions in `text`.
        lower = text.lower()
        if (length := _field(text, lower, "\r\ncontent-length:")) is not None:
            if (value := parse_digits(length)) < 0:
                raise ProtocolViolation(f"bad content-length {length.encode('latin-1').lower()[:40]!r}")
            self._length = value
        if (encoding := _field(lower, lower, "\r\ntransfer-encoding:")) is not None and "chunked" in encoding:
            self._chunked = True
        if (content_type := _field(text, lower, "\r\ncontent-type:")) is not None:
            self.content_type = content_type
        connection = _field(lower, lower, "\r\nconnection:")
        if connection == "close":
            self.keep_alive = False
        elif connection == "keep-alive":
            self.keep_alive = True
        if self._chunked:
            self._length = None
        elif status in (204, 304) or 100 <= status < 200:
            self._length = 0
        elif self._length is None:
            self._to_close = True
            self.keep_alive = False
        self.status = status

    def _parse_chunks(self) -> bool:
        chunks: list[bytes] = []
        position = 0
        buffer = self._chunked_body
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return False
            size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise ProtocolViolation(f"bad chunk size {size_text[:20]!r}") from exc
            data_start = line_end + 2
            if size == 0:
                # The last chunk is followed by optional trailers and an empty line.
                no_trailers = buffer[data_start:data_start + 2] == b"\r\n"
                if not no_trailers and buffer.find(b"\r\n\r\n", data_start) < 0:
                    return False
                self.body = b"".join(chunks)
                return True
            if len(buffer) < data_start + size + 2:
                return False
            chunks.append(bytes(buffer[data_start:data_start + size]))
            position = data_start + size + 2


_WHITESPACE: Final = " \t\n\r\x0b\x0c"  # what bytes.strip() took from around a value


def _field(text: str, lower: str, name: str) -> str | None:
    """The stripped value, from `text`, of the first field `name` ("\\r\\n" + lower-case name + ":") in `lower`."""
    start = lower.find(name)
    if start < 0:
        return None
    start += len(name)
    end = lower.find("\r\n", start)
    return text[start:end if end >= 0 else len(text)].strip(_WHITESPACE)


def parse_digits(text: str) -> int:
    """The number `text` spells in ASCII digits only (what bytes.isdigit accepts), at most 18 of them, or -1.

    A loop, not isdigit() and int(): str.isdigit also takes latin-1's ¹, ² and ³, and compiled
    by mypyc, ord(text[i]) costs a few instructions where int() costs ~500 (heads are parsed on
    every query).
    """
    if not text or len(text) > 18:
        return -1  # more digits than any length this side of 2**63: refused, and no big-number arithmetic
    value = 0
    for i in range(len(text)):
        digit = ord(text[i]) - 48  # ord("0")
        if not 0 <= digit <= 9:
            return -1
        value = value * 10 + digit
    return value


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
            self._failed(ConnectionFailed(f"connection closed by peer{f': {exc}' if exc else ''}"))


class _Connection(asyncio.Protocol):
    __slots__ = ("_exchange", "_parser", "closed", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser: _ResponseParser | None = None
        self._exchange: Exchange | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, exchange: Exchange) -> None:
        assert self.transport is not None
        self._exchange = exchange
        self._parser = _ResponseParser()
        exchange._connection = self
        self.transport.write(exchange._data)

    def data_received(self, data: bytes) -> None:
        exchange, parser = self._exchange, self._parser
        if exchange is None or parser is None:
            self.abort()  # bytes nobody asked for: the connection is out of step, drop it
            return
        try:
            complete = parser.feed(data)
        except ProtocolViolation as exc:
            self._exchange = self._parser = None
            exchange._failed(exc)
            return
        if complete:
            self._exchange = self._parser = None
            if not parser.keep_alive:
                self.abort()
            exchange._succeeded(Response(parser.status, parser.content_type, parser.body), self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange, parser = self._exchange, self._parser
        if exchange is None or parser is None:
            return
        self._exchange = self._parser = None
        if parser.finish_on_close():
            exchange._succeeded(Response(parser.status, parser.content_type, parser.body), None)
        else:
            exchange._lost(parser.status != 0, exc)

    def abort(self) -> None:
        self.closed = True
        self._exchange = self._parser = None
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Keep-alive connections to one host:port, bounded like Envoy's max_connections."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None, max_connections: int = 512,
                 max_idle: int = 64) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._idle: deque[_Connection] = deque()
        self._max_idle = max_idle
        self._max_active = max_connections
        self._active = 0  # exchanges holding a connection slot
        self._queued: deque[Exchange] = deque()  # waiting for a slot, in arrival order

    def start(self, method: str, path: str, body: bytes | None, headers: bytes,
              on_done: Callable[[Exchange], None]) -> Exchange:
        """Send one request (now, when a connection is idle); `headers` are pre-encoded lines ending in CRLF."""
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
                _Connection, self._host, self._port, ssl=self._tls,
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
