"""rgw.http.server in-process, with short timeouts: slow and idle clients, crashes, backlog, shutdown.

A small API stands in for the gateway's (paths under /fast are its own, the rest go to an
aiohttp fallback), served on a real loopback socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from rgw.http import server as h1server
from rgw.http.server import MAX_REMEMBERED_HEADS, H1Server, Reply, Request, parse_head
from tests.proxy.front_door import closed_by_server, read_response, request


class EchoApi:
    max_body = 1 << 20

    def __init__(self) -> None:
        self.delay = 0.0
        self.seen: list[str] = []

    def route(self, method: str, target: str) -> str | None:
        return target if target.startswith("/fast") else None

    async def handle(self, request: Request) -> Reply:
        self.seen.append(request.target)
        if request.target == "/fast/crash":
            raise RuntimeError("boom")
        if self.delay:
            await asyncio.sleep(self.delay)
        body = request.body or b""
        return Reply(200, b"%s %d" % (request.target.encode(), len(body)), "text/plain",
                     (("X-Seen", request.headers.get("x-tag", "-")),))

    def handle_now(self, request: Request, send) -> bool:
        """/fast/now... is answered from a loop callback, as the gateway answers reads, with no task."""
        if not request.target.startswith("/fast/now"):
            return False
        self.seen.append(request.target)
        if request.target == "/fast/now-crash":
            raise RuntimeError("boom before starting")
        reply = Reply(200, b"now %s" % request.target.encode(), "text/plain")
        asyncio.get_running_loop().call_later(self.delay, send, reply)
        return True

    def crashed(self) -> Reply:
        return Reply(500, b'{"status":{"error":"crashed"}}')

    def timed_out(self) -> Reply:
        return Reply(408, b'{"status":{"error":"too slow"}}')


async def fallback_handler(request: web.BaseRequest) -> web.Response:
    body = await request.read()
    return web.Response(text=f"aiohttp {request.path} {len(body)}")


@pytest.fixture
async def served() -> AsyncIterator[tuple[H1Server, EchoApi, int]]:
    api = EchoApi()
    front = H1Server(api, web.Server(fallback_handler), head_timeout=0.4, body_timeout=0.4, keepalive_timeout=0.6,
                     sweep_interval=0.05)
    server = await asyncio.get_running_loop().create_server(front, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield front, api, port
    finally:
        server.close()
        await front.shutdown(1.0)


async def open_to(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


@pytest.mark.parametrize(("head", "plain"), [
    (b"POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 3", True),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Tag:  a b \t", True),
    (b"GET /fast HTTP/1.1", False),  # no Host
    (b"GET /fast HTTP/1.0\r\nHost: x", False),
    (b"get /fast HTTP/1.1\r\nHost: x", False),
    (b"HEAD /fast HTTP/1.1\r\nHost: x", False),
    (b"GET http://x/fast HTTP/1.1\r\nHost: x", False),
    (b"GET /fa st HTTP/1.1\r\nHost: x", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nHost: y", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: -1", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nExpect: 100-continue", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nUpgrade: websocket", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\n folded", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nX-A: \x00", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nBad Name: 1", False),
    (b"GET /fast HTTP/1.1\r\nHost: x" + b"\r\nX-N: 1" * 129, False),
    # Request smuggling: Content-Length twice, in any case, whatever lies between, is aiohttp's to refuse.
    (b"GET /fast HTTP/1.1\r\nContent-Length: 1\r\nHost: x\r\ncontent-LENGTH: 1", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nX-A: b\r\nContent-Length: 2", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: +1", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: ", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: \xb9", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length : 1", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\nX-A: 1\nContent-Length: 2", False),
    (b"GET /fast HTTP/1.1\r\nHost: x\r\ntransfer-ENCODING: chunked", False),
    (b"GET /fast\xe9 HTTP/1.1\r\nHost: x", False),
    (b"GET /fast HTTP/1.1 \r\nHost: x", False),
])
def test_only_plain_heads_are_parsed_here(head: bytes, plain: bool) -> None:
    assert (parse_head(head) is not None) == plain
    assert (parse_head(head) is not None) == plain  # and when remembered


def test_a_plain_head_gives_its_fields_first_time_and_when_remembered() -> None:
    head = b"POST /fast?x=1 HTTP/1.1\r\nHost: h\r\nX-Tag: a b\r\nContent-Length: 12"
    assert parse_head(head) == ("POST", "/fast?x=1", {"host": "h", "x-tag": "a b"}, 12, False)
    # The same header lines but for Content-Length's value: parsed once, remembered.
    assert parse_head(head.replace(b": 12", b": 7")) == ("POST", "/fast?x=1", {"host": "h", "x-tag": "a b"}, 7, False)


@pytest.mark.parametrize(("head", "parsed"), [
    # Names in any case, whitespace around values, Content-Length anywhere: found where a line starts only.
    (b"PUT /fast HTTP/1.1\r\ncontent-LENGTH: \t12 \t\r\nhOsT:  h\r\nX-Tag:\ta b ",
     ("PUT", "/fast", {"host": "h", "x-tag": "a b"}, 12, False)),
    (b"POST /fast HTTP/1.1\r\nHost: h\r\nX-Note: content-length: 99\r\nX-Content-Length: 98\r\nContent-Length: 3",
     ("POST", "/fast", {"host": "h", "x-note": "content-length: 99", "x-content-length": "98"}, 3, False)),
    (b"POST /fast HTTP/1.1\r\nHost: h\r\nX-Note: content-length: 99",
     ("POST", "/fast", {"host": "h", "x-note": "content-length: 99"}, 0, False)),
    # The first of repeated (not singleton) headers; Connection: close in any case, among others.
    (b"DELETE /fast/1 HTTP/1.1\r\nHost: h\r\nX-Tag: 1\r\nx-tag: 2\r\nConnection: Keep-Alive, CLOSE",
     ("DELETE", "/fast/1", {"host": "h", "x-tag": "1", "connection": "Keep-Alive, CLOSE"}, 0, True)),
    # Values are decoded as aiohttp decodes them: UTF-8, undecodable bytes kept as surrogates.
    (b"GET /fast HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\nX-Raw: \xff",
     ("GET", "/fast", {"host": "h", "x-name": "caf\u00e9", "x-raw": "\udcff"}, 0, False)),
])
def test_a_plain_head_is_parsed_as_aiohttp_would(head: bytes, parsed: tuple) -> None:
    assert parse_head(head) == parsed
    assert parse_head(head) == parsed  # and when remembered


def test_heads_remembered_differ_by_more_than_their_content_length() -> None:
    head = b"POST /fast HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nX-Tag: a"
    assert parse_head(head) == ("POST", "/fast", {"host": "h", "x-tag": "a"}, 12, False)
    assert parse_head(head.replace(b"12", b"3")) == ("POST", "/fast", {"host": "h", "x-tag": "a"}, 3, False)
    assert parse_head(head.replace(b"Tag: a", b"Tag: b")) == ("POST", "/fast", {"host": "h", "x-tag": "b"}, 12, False)
    assert parse_head(head.replace(b"Tag: a", b"Tag: a\r\nContent-Length: 3")) is None
    assert parse_head(head.replace(b": 12", b": 1\xb2")) is None


def test_what_is_remembered_stays_bounded() -> None:
    for i in range(2 * MAX_REMEMBERED_HEADS + 1):
        head = b"GET /fast/%d HTTP/1.1\r\nHost: h\r\nX-Id: %d" % (i, i)
        assert parse_head(head) == ("GET", f"/fast/{i}", {"host": "h", "x-id": str(i)}, 0, False)
        assert len(h1server._FIELDS) <= MAX_REMEMBERED_HEADS and len(h1server._LINES) <= MAX_REMEMBERED_HEADS


async def test_pipelined_requests_answer_in_order_then_hand_over(served) -> None:
    _, api, port = served
    reader, writer = await open_to(port)
    writer.write(request("POST", "/fast/a", b"123") + request("GET", "/fast/b", headers={"X-Tag": "t"})
                 + request("POST", "/other", b"12345") + request("GET", "/fast/c"))
    replies = [await read_response(reader) for _ in range(4)]
    assert [r.body if r else None for r in replies] == [b"/fast/a 3", b"/fast/b 0", b"aiohttp /other 5",
                                                         b"aiohttp /fast/c 0"]
    assert replies[1] is not None and replies[1].headers["x-seen"] == "t"
    assert api.seen == ["/fast/a", "/fast/b"]  # after the hand-over aiohttp serves the connection
    writer.close()


async def test_requests_answered_from_callbacks_keep_their_order_with_tasks(served) -> None:
    _, api, port = served
    api.delay = 0.02
    reader, writer = await open_to(port)
    writer.write(request("GET", "/fast/now-1") + request("POST", "/fast/a", b"12") + request("GET", "/fast/now-crash")
                 + request("GET", "/fast/now-2", headers={"Connection": "close"}) + request("GET", "/fast/never"))
    replies = [await read_response(reader) for _ in range(4)]
    assert [(r.status, r.body) if r else None for r in replies] == [
        (200, b"now /fast/now-1"), (200, b"/fast/a 2"), (500, b'{"status":{"error":"crashed"}}'),
        (200, b"now /fast/now-2")]
    assert await closed_by_server(reader, timeout=1)  # it asked to close: what followed is not served
    assert api.seen == ["/fast/now-1", "/fast/a", "/fast/now-crash", "/fast/now-2"]
    writer.close()


async def test_a_body_arriving_in_pieces_is_put_together(served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    writer.write(b"POST /fast/x HTTP/1.1\r\nHost: x\r\nContent-Len")
    await asyncio.sleep(0.05)
    writer.write(b"gth: 10\r\n\r\n01234")
    await asyncio.sleep(0.05)
    writer.write(b"56789" + request("GET", "/fast/y"))
    assert (await read_response(reader)).body == b"/fast/x 10"
    assert (await read_response(reader)).body == b"/fast/y 0"
    writer.close()


async def test_a_slow_head_is_cut_off_with_408(served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    reading = asyncio.create_task(read_response(reader, timeout=3))
    # Slowloris: a byte at a time, each well inside any per-read timeout; the head's deadline holds.
    for byte in b"GET /fast HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 20:
        if reading.done():
            break
        writer.write(bytes([byte]))
        await asyncio.sleep(0.05)
    reply = await reading
    assert reply is not None and reply.status == 408
    assert await closed_by_server(reader, timeout=1)
    writer.close()


async def test_a_stalled_body_is_cut_off_with_408(served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    writer.write(b"POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
    reply = await read_response(reader, timeout=2)
    assert reply is not None and reply.status == 408
    assert await closed_by_server(reader, timeout=1)
    writer.close()


async def test_an_idle_connection_is_closed_quietly(served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    writer.write(request("GET", "/fast/once"))
    assert (await read_response(reader)).status == 200
    assert not await closed_by_server(reader, timeout=0.2)  # kept alive for a while
    assert await closed_by_server(reader, timeout=2)  # then closed, without a response
    writer.close()


async def test_a_crashing_handler_answers_500_and_the_connection_goes_on(served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    writer.write(request("GET", "/fast/crash") + request("GET", "/fast/after"))
    assert (await read_response(reader)).status == 500
    assert (await read_response(reader)).body == b"/fast/after 0"
    writer.close()


async def test_a_large_pipelined_backlog_is_all_answered(served) -> None:
    _, api, port = served
    api.delay = 0.001
    reader, writer = await open_to(port)
    body = b"x" * 50_000
    count = 60  # 3 MB queued behind slow requests: reading pauses and resumes
    writer.write(b"".join(request("POST", f"/fast/{i}", body) for i in range(count)))
    replies = [await read_response(reader) for _ in range(count)]
    assert [r.body for r in replies if r] == [b"/fast/%d 50000" % i for i in range(count)]
    writer.close()


async def test_shutdown_lets_requests_in_flight_answer(served) -> None:
    front, api, port = served
    api.delay = 0.3
    busy_reader, busy_writer = await open_to(port)
    idle_reader, idle_writer = await open_to(port)
    busy_writer.write(request("GET", "/fast/slow"))
    await asyncio.sleep(0.1)
    shutting = asyncio.create_task(front.shutdown(2.0))
    reply = await read_response(busy_reader)
    assert reply is not None and reply.status == 200 and reply.headers.get("connection") == "close"
    assert await closed_by_server(idle_reader, timeout=1)
    await shutting
    busy_writer.close()
    idle_writer.close()
