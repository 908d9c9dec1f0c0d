"""A minimal HTTP/1.1 client with keep-alive pooling, for forwarding bytes to one region.

The gateway's hot path needs exactly this: write a request, read status, content type and
body bytes back, reuse the connection. A general client (aiohttp's) builds request and
response objects, cookie jars and header multidicts on every call; measured here that cost
more CPU than the rest of the gateway together. Responses may be sized by Content-Length,
chunked, or delimited by connection close.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from typing import cast


class ConnectionFailed(Exception):
    """The peer refused, reset or closed the connection before a whole response arrived."""


class ProtocolViolation(Exception):
    """The peer answered something that is not HTTP/1.x."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes


class _ResponseParser:
    """Incremental parser for one response; `feed` returns True once it is complete."""

    __slots__ = ("_buffer", "_chunked", "_length", "_to_close", "body", "content_type", "keep_alive", "status")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.status = 0
        self.content_type = "application/json"
        self.keep_alive = True
        self._length: int | None = None
        self._chunked = False
        self._to_close = False
        self.body = b""

    def feed(self, data: bytes) -> bool:
        self._buffer += data
        if not self.status and not self._parse_head():
            return False
        if self._length is not None:
            if len(self._buffer) < self._length:
                return False
            self.body = bytes(self._buffer[: self._length])
            return True
        if self._chunked:
            return self._parse_chunks()
        return False  # delimited by close

    def finish_on_close(self) -> bool:
        """The peer closed: complete when the body was delimited by the close itself."""
        if self.status and self._to_close:
            self.body = bytes(self._buffer)
            return True
        return False

    def _parse_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > 65536:
                raise ProtocolViolation("response head larger than 64 KiB")
            return False
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        del self._buffer[: end + 4]
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolViolation(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        http10 = parts[0] == b"HTTP/1.0"
        self.keep_alive = not http10
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                if not value.isdigit():
                    raise ProtocolViolation(f"bad content-length {value[:40]!r}")
                self._length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self._chunked = True
            elif name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"connection":
                token = value.lower()
                if token == b"close":
                    self.keep_alive = False
                elif token == b"keep-alive":
                    self.keep_alive = True
        if self._chunked:
            self._length = None
        elif status in (204, 304) or 100 <= status < 200:
            self._length = 0
        elif self._length is None:
            self._to_close = True
            self.keep_alive = False
        self.status = status
        return True

    def _parse_chunks(self) -> bool:
        chunks = []
        position = 0
        buffer = self._buffer
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


class _Connection(asyncio.Protocol):
    __slots__ = ("_parser", "_waiter", "closed", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser: _ResponseParser | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None or waiter.done():
            self.abort()  # bytes nobody asked for: the connection is out of step, drop it
            return
        try:
            complete = parser.feed(data)
        except ProtocolViolation as exc:
            waiter.set_exception(exc)
            self.abort()
            return
        if complete:
            self._parser = None
            if not parser.keep_alive:
                self.abort()
            waiter.set_result(Response(parser.status, parser.content_type, parser.body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        parser, waiter = self._parser, self._waiter
        if waiter is not None and not waiter.done():
            if parser is not None and parser.finish_on_close():
                waiter.set_result(Response(parser.status, parser.content_type, parser.body))
            else:
                waiter.set_exception(ConnectionFailed(f"connection closed by peer{f': {exc}' if exc else ''}"))

    def request(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._parser = _ResponseParser()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._waiter

    @property
    def responded(self) -> bool:
        return self._parser is not None and self._parser.status != 0

    def abort(self) -> None:
        self.closed = True
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
        self._slots = asyncio.Semaphore(max_connections)

    async def request(self, method: str, path: str, body: bytes | None, headers: bytes = b"") -> Response:
        """Send one request; `headers` are extra pre-encoded header lines, each ending in CRLF."""
        length = len(body) if body is not None else 0
        head = (f"{method} {path} HTTP/1.1\r\n".encode() + self._host_header + headers
                + b"Content-Length: %d\r\n\r\n" % length)
        data = head + body if body else head
        async with self._slots:
            connection, reused = await self._acquire()
            try:
                response = await self._exchange(connection, data)
            except ConnectionFailed:
                if not reused or connection.responded:
                    raise
                # A reused keep-alive connection the server had already closed: it never saw the
                # request, so sending it once more on a fresh connection is safe.
                connection, _ = await self._acquire(fresh=True)
                response = await self._exchange(connection, data)
            self._release(connection)
            return response

    async def _exchange(self, connection: _Connection, data: bytes) -> Response:
        try:
            return await connection.request(data)
        except BaseException:
            connection.abort()  # cancelled or failed mid-exchange: its state is unknown
            raise

    async def _acquire(self, fresh: bool = False) -> tuple[_Connection, bool]:
        while self._idle and not fresh:
            connection = self._idle.pop()
            if not connection.closed:
                return connection, True
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._tls,
                server_hostname=self._host if self._tls is not None else None)
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect to {self._host}:{self._port}: {exc.strerror or exc}") from exc
        return connection, False

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            return
        if len(self._idle) >= self._max_idle:
            connection.abort()
        else:
            self._idle.append(connection)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().abort()
