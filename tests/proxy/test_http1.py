"""rgw.http.client's Pool reading exact response heads from a real loopback server.

The server answers each request with the bytes a test gives it, so every way a region may frame,
label or close a response is read exactly as the gateway reads it: status, content type, body,
whether the connection is used again, and the errors for what is not HTTP/1.x.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from rgw.http.client import Pool, ProtocolViolation


class CannedServer:
    """Answers every request head with the next canned response, closing after it when asked to."""

    def __init__(self) -> None:
        self.answers: list[tuple[bytes, bool]] = []
        self.connections = 0

    def __call__(self) -> asyncio.Protocol:
        self.connections += 1
        return _Canned(self)


class _Canned(asyncio.Protocol):
    def __init__(self, server: CannedServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        assert self.transport is not None
        while b"\r\n\r\n" in self.buffer:  # the pool's requests here carry no body
            _, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            answer, close = self.server.answers.pop(0)
            self.transport.write(answer)
            if close:
                self.transport.close()
                return


@pytest.fixture
async def region() -> AsyncIterator[tuple[CannedServer, Pool]]:
    canned = CannedServer()
    server = await asyncio.get_running_loop().create_server(canned, "127.0.0.1", 0)
    pool = Pool("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        yield canned, pool
    finally:
        pool.close()
        server.close()


async def ask(pool: Pool) -> tuple[int, str, bytes]:
    response = await asyncio.wait_for(pool.request("GET", "/", None), 5)
    return response.status, response.content_type, response.body


NEXT = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"  # answers the second request, to see the connection kept


@pytest.mark.parametrize(("answer", "close", "expected", "kept"), [
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", False,
     (200, "text/plain", b"hello"), True),
    # Field names in any case; optional whitespace around values; the content type's case kept.
    (b"HTTP/1.1 201 Created\r\ncOnTeNt-TyPe: \t Text/Plain; Charset=UTF-8 \t\r\nCONTENT-LENGTH:\t5 \r\n\r\nhello",
     False, (201, "Text/Plain; Charset=UTF-8", b"hello"), True),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; name=caf\xe9\r\nContent-Length: 2\r\n\r\nok", False,
     (200, "text/plain; name=caf\xe9", b"ok"), True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False, (200, "application/json", b"ok"), True),
    # Names count at the start of a line only, followed by their colon.
    (b"HTTP/1.1 200 OK\r\nX-Note: content-length: 99\r\nX-Content-Type: text/x\r\nContent-Length: 2\r\n"
     b"X-Also: transfer-encoding: chunked, connection: close\r\n\r\nok", False, (200, "application/json", b"ok"), True),
    # The first of repeated fields counts (the second length leaves bytes over: the connection is dropped).
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/a\r\nContent-Length: 2\r\nContent-Type: text/b\r\n"
     b"Content-Length: 5\r\n\r\nhello", False, (200, "text/a", b"he"), False),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", True,
     (200, "application/json", b"ok"), False),
    # Chunked anywhere in Transfer-Encoding, in any case, wins over Content-Length.
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
     b"3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n", False, (200, "application/json", b"hello"), True),
    (b"HTTP/1.1 204 No Content\r\n\r\n", False, (204, "application/json", b""), True),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", False, (304, "application/json", b""), True),
    # Neither a length nor chunked: the body ends when the connection closes.
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", True, (200, "text/plain", b"all of it"), False),
    (b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nall of it", True, (200, "application/json", b"all of it"), False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection:  CLOSE \r\n\r\nok", True,
     (200, "application/json", b"ok"), False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", True, (200, "application/json", b"ok"), False),
    (b"HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", False,
     (200, "application/json", b"ok"), True),
])
async def test_a_response_head_is_read_as_sent(region, answer: bytes, close: bool, expected: tuple, kept: bool) -> None:
    canned, pool = region
    canned.answers = [(answer, close), (NEXT, False)]
    assert await ask(pool) == expected
    assert await ask(pool) == (200, "application/json", b"next")
    assert canned.connections == (1 if kept else 2)


@pytest.mark.parametrize(("answer", "error"), [
    (b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", r"bad status line b'HTTP/2 200 OK\r\nContent-Length: 0'"),
    (b"HTTP/1.1\r\n\r\n", "bad status line b'HTTP/1.1'"),
    (b"HTTP/1.1 2x0 OK\r\n\r\n", "bad status line b'HTTP/1.1 2x0 OK'"),
    (b"HTTP/1.1 \xb200 OK\r\n\r\n", r"bad status line b'HTTP/1.1 \xb200 OK'"),
    (b"http/1.1 200 OK\r\n\r\n", "bad status line b'http/1.1 200 OK'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", "bad content-length b'1 2'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", "bad content-length b'+2'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", "bad content-length b''"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n", r"bad content-length b'\xb2'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: TWO\xc0\r\n\r\n", r"bad content-length b'two\xc0'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 19 + b"\r\n\r\n", "bad content-length b'" + "9" * 19 + "'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: x\r\n\r\nok", None),  # the first counts
])
async def test_what_is_not_http1_is_a_protocol_violation(region, answer: bytes, error: str | None) -> None:
    canned, pool = region
    canned.answers = [(answer, error is not None)]
    if error is None:
        assert await ask(pool) == (200, "application/json", b"ok")
        return
    with pytest.raises(ProtocolViolation) as raised:
        await ask(pool)
    assert str(raised.value) == error
