"""Property tests of the front door's framing: generated request streams, well-formed and hostile, read three ways.

The front door (rgw.http.server on a real socket, the stream delivered in random pieces), llhttp
itself fed the whole stream at once, and h11 must never read the same bytes as different
requests: the front door reads exactly what llhttp reads (or refuses earlier, cleanly), and
wherever h11 accepts a request too, it is the same request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import h11
import httptools
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rgw.http.server import HttpServer, Reply, Request
from rgw.settings.config import Limits
from tests.http.raw import read_response

Message = tuple[str, str, bytes]  # method, target, body

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ;=,/", min_size=0, max_size=20).map(str.strip)
PATH = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%", min_size=1, max_size=8),
                min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
# What a hostile client splices in: line breaks, NULs, spaces, framing headers twice or together.
HOSTILE = st.sampled_from([b"\r\n", b"\n", b"\r", b"\x00", b" ", b"\t", b"\r\n ", b":", b"Content-Length: 3\r\n",
                           b"Transfer-Encoding: chunked\r\n", b"Content-Length: 0\r\n", b"\r\n\r\n", b"0\r\n\r\n",
                           b"Host: y\r\n"])


@dataclass
class Spec:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    framing: str  # "length", "chunked" or "none" (no body)
    chunks: list[int]

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", "Host: gw"]
        lines += [f"x-{name}: {value}" for name, value in self.headers]
        body = b""
        if self.framing == "length":
            lines.append(f"Content-Length: {len(self.body)}")
            body = self.body
        elif self.framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
            at, parts = 0, []
            for size in [*self.chunks, len(self.body)]:
                piece = self.body[at:at + size]
                at += len(piece)
                if piece:
                    parts.append(b"%x\r\n%s\r\n" % (len(piece), piece))
            body = b"".join(parts) + b"0\r\n\r\n"
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


SPECS = st.builds(
    Spec, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), path=PATH,
    headers=st.lists(st.tuples(TOKEN, VALUE), max_size=4), body=st.binary(max_size=300),
    framing=st.sampled_from(["length", "chunked", "none"]), chunks=st.lists(st.integers(1, 64), max_size=5))


@st.composite
def hostile_streams(draw: st.DrawFn) -> bytes:
    stream = bytearray(b"".join(spec.encode() for spec in draw(st.lists(SPECS, min_size=1, max_size=4))))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(stream)))
        stream[at:at] = draw(HOSTILE)
    return bytes(stream)


class _Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body = b""

    def on_message_begin(self) -> None:
        self._url, self._body = b"", b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.messages.append((self.parser.get_method().decode(), self._url.decode("latin-1"), self._body))


def by_llhttp(stream: bytes) -> tuple[list[Message], bool]:
    """(requests llhttp reads, whether it read the whole stream without error)."""
    collect = _Collect()
    try:
        collect.parser.feed_data(stream)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return collect.messages, False
    return collect.messages, True


def by_h11(stream: bytes) -> list[Message]:
    """The requests h11 reads from the stream before it refuses anything."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(stream)
    connection.receive_data(b"")
    messages: list[Message] = []
    current: tuple[str, str] | None = None
    body = b""
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return messages
        if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
            return messages
        if isinstance(event, h11.Request):
            current, body = (event.method.decode(), event.target.decode("latin-1")), b""
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert current is not None
            messages.append((*current, body))
            connection.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
            connection.send(h11.EndOfMessage())
            connection.start_next_cycle()


class Echo:
    def handle_now(self, request: Request, send) -> bool:
        send(Reply(200, orjson.dumps({"m": request.method, "t": request.target,
                                      "b": (request.body or b"").decode("latin-1")})))
        return True

    async def handle(self, request: Request) -> Reply:
        raise AssertionError("every request is answered at once")

    def refused(self, status: int, message: str) -> Reply:
        return Reply(status, orjson.dumps({"status": {"error": message}}))


LIMITS = Limits(head_timeout_s=5, body_timeout_s=5, keepalive_timeout_s=5)


async def _front_door(stream: bytes, pieces: list[int]) -> tuple[list[Message], int | None]:
    """(requests the front door answered, the status it refused with, if it did)."""
    front = HttpServer(Echo(), LIMITS)
    server = await asyncio.get_running_loop().create_server(front, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        at = 0
        for size in [*pieces, len(stream)]:
            writer.write(stream[at:at + size])
            at += size
            await writer.drain()
        writer.write_eof()
        messages: list[Message] = []
        while True:
            try:
                reply = await read_response(reader, timeout=5)
            except (ConnectionError, asyncio.IncompleteReadError):
                return messages, None
            if reply is None:
                return messages, None
            if reply.status != 200:
                return messages, reply.status
            echoed = orjson.loads(reply.body)
            messages.append((echoed["m"], echoed["t"], echoed["b"].encode("latin-1")))
    finally:
        writer.close()
        server.close()
        await front.shutdown(0.5)


def front_door(stream: bytes, pieces: list[int]) -> tuple[list[Message], int | None]:
    return asyncio.run(_front_door(stream, pieces))


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(specs=st.lists(SPECS, min_size=1, max_size=5), pieces=st.lists(st.integers(1, 200), max_size=6))
def test_well_formed_streams_are_read_alike_by_all_three(specs: list[Spec], pieces: list[int]) -> None:
    stream = b"".join(spec.encode() for spec in specs)
    expected = [(s.method, s.path, s.body if s.framing != "none" else b"") for s in specs]
    assert by_llhttp(stream) == (expected, True)
    assert by_h11(stream) == expected
    assert front_door(stream, pieces) == (expected, None)


@PROPERTY
@given(stream=hostile_streams(), pieces=st.lists(st.integers(1, 200), max_size=6))
def test_hostile_streams_are_never_read_two_ways(stream: bytes, pieces: list[int]) -> None:
    parsed, whole = by_llhttp(stream)
    answered, refusal = front_door(stream, pieces)
    # The front door reads what llhttp reads, in the same pieces, or stops earlier with a clean 4xx.
    assert answered == parsed[:len(answered)]
    if len(answered) < len(parsed) or not whole:
        assert refusal is not None and 400 <= refusal < 600 and refusal != 500, (answered, parsed, refusal)
    # Where h11 reads a request too, it is the same request.
    agreed = by_h11(stream)
    common = min(len(agreed), len(answered))
    assert answered[:common] == agreed[:common]
