"""rgw.http.client's Pool reading exact responses from a real loopback server.

The server answers each request with the bytes a test gives it, so every way a region may frame,
label or close a response is read exactly as the gateway reads it: status, content type, body,
whether the connection is used again, and the errors for what is not HTTP/1.x or too large.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from rgw.http.client import ConnectionReset, Pool, ProtocolViolation, UnsafeRequest, header_line
from rgw.regions.client import RegionClient
from rgw.settings.config import Region


class CannedServer:
    """Answers every request head with the next canned response, closing after it when asked to."""

    def __init__(self) -> None:
        self.answers: list[tuple[bytes, bool]] = []
        self.connections = 0
        self.received = b""

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
        self.server.received += data
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
    pool = Pool("127.0.0.1", server.sockets[0].getsockname()[1], max_response_bytes=1000)
    try:
        yield canned, pool
    finally:
        pool.close()
        server.close()


async def ask(pool: Pool, path: str = "/") -> tuple[int, str, bytes]:
    response = await asyncio.wait_for(pool.request("GET", path, None), 5)
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
    # Names count as whole field names only.
    (b"HTTP/1.1 200 OK\r\nX-Note: content-length: 99\r\nX-Content-Type: text/x\r\nContent-Length: 2\r\n"
     b"X-Also: transfer-encoding: chunked, connection: close\r\n\r\nok", False, (200, "application/json", b"ok"), True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", True, (200, "application/json", b"ok"),
     False),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n", False,
     (200, "application/json", b"hello"), True),
    (b"HTTP/1.1 204 No Content\r\n\r\n", False, (204, "application/json", b""), True),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", False, (304, "application/json", b""), True),
    # An interim answer is not the answer.
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False,
     (200, "application/json", b"ok"), True),
    # Neither a length nor chunked: the body ends when the connection closes.
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", True, (200, "text/plain", b"all of it"), False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", True, (200, "application/json", b"ok"), False),
    (b"HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", False,
     (200, "application/json", b"ok"), True),
    # Bytes after the answer: the connection is out of step, and not used again.
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False,
     (200, "application/json", b"ok"), False),
])
async def test_a_response_is_read_as_sent(region, answer: bytes, close: bool, expected: tuple, kept: bool) -> None:
    canned, pool = region
    canned.answers = [(answer, close), (NEXT, False)]
    assert await ask(pool) == expected
    assert await ask(pool) == (200, "application/json", b"next")
    assert canned.connections == (1 if kept else 2)


@pytest.mark.parametrize(("answer", "error"), [
    (b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n", "malformed response"),
    (b"HTTP/1.1\r\n\r\n", "malformed response"),
    (b"HTTP/1.1 2x0 OK\r\n\r\n", "malformed response"),
    (b"http/1.1 200 OK\r\n\r\n", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok", "malformed response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 30 + b"\r\n\r\n", "malformed response"),
    # Over the pool's bound (1000 bytes here): announced, chunked, or until the close.
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", "exceeds the 1000-byte bound"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"100\r\n" + b"x" * 256 + b"\r\n" * 1
     + b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n", "exceeds the 1000-byte bound"),
    (b"HTTP/1.1 200 OK\r\n\r\n" + b"y" * 5000, "exceeds the 1000-byte bound"),
])
async def test_what_is_not_http1_or_too_large_is_a_protocol_violation(region, answer: bytes, error: str) -> None:
    canned, pool = region
    canned.answers = [(answer, True)]
    with pytest.raises(ProtocolViolation) as raised:
        await ask(pool)
    assert error in str(raised.value)


async def test_a_close_before_the_whole_answer_is_a_reset_not_an_answer(region) -> None:
    canned, pool = region
    canned.answers = [(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", True)]
    with pytest.raises(ConnectionReset):
        await ask(pool)


async def test_a_kept_connection_the_region_closed_is_retried_once_on_a_new_one(region) -> None:
    canned, pool = region
    canned.answers = [(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False)]
    assert await ask(pool) == (200, "application/json", b"ok")
    # The region closes the kept connection on the next request without answering it: the request never
    # reached it, so it goes out once more on a fresh connection.
    canned.answers = [(b"", True), (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain", False)]
    assert await ask(pool) == (200, "application/json", b"again")


@pytest.mark.parametrize("target", ["/a b", "/a\r\nHost: evil", "/a\x00", "/caf\xe9", "no-slash", "/a\nb"])
async def test_a_target_that_is_not_one_request_line_is_never_sent(region, target: str) -> None:
    canned, pool = region
    with pytest.raises(UnsafeRequest):
        pool.start("GET", target, None, b"", lambda _: None)
    assert canned.received == b""


@pytest.mark.parametrize("value", ["1\r\nX-B: 2", "1\nX-B: 2", "1\rX-B: 2", "a\x00b", "caf\xe9"])
def test_a_header_value_that_would_add_a_line_is_refused(value: str) -> None:
    with pytest.raises(UnsafeRequest):
        header_line("X-A", value)
    assert header_line("X-A", "1, 2") == b"X-A: 1, 2\r\n"


def test_a_region_client_refuses_a_key_that_would_add_a_header() -> None:
    with pytest.raises(UnsafeRequest):
        RegionClient(Region("r", "http://127.0.0.1:9", api_key="k\r\nX-Injected: yes"))
