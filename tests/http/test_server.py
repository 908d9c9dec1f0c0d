"""rgw.http.server in-process on a real loopback socket, with short limits: framing, pipelining, bounds, deadlines.

A small application stands in for the gateway's (the server is what is under test): it echoes
what it was given, answers `/now...` from a loop callback as the gateway answers reads, sleeps
when asked, and crashes on `/crash`.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import orjson
import pytest

from rgw.http.server import HttpServer, Reply, Request
from rgw.settings.config import Limits
from tests.http.raw import closed_by_server, read_response, request

LIMITS = Limits(max_request_bytes=64 * 1024, max_head_bytes=4096, max_headers=20, max_pipelined=8,
                head_timeout_s=0.4, body_timeout_s=0.4, keepalive_timeout_s=0.6, send_timeout_s=0.6)


class EchoApp:
    def __init__(self) -> None:
        self.delay = 0.0
        self.seen: list[Request] = []

    def _reply(self, request: Request) -> Reply:
        body = request.body or b""
        return Reply(200, orjson.dumps({"method": request.method, "target": request.target, "length": len(body),
                                        "body": body.decode("latin-1"), "tag": request.headers.get("x-tag")}))

    def handle_now(self, request: Request, send: Callable[[Reply], None]) -> bool:
        """/now... is answered from a loop callback, as the gateway answers reads, with no task."""
        if not request.path.startswith("/now"):
            return False
        self.seen.append(request)
        if request.path == "/now-crash":
            raise RuntimeError("boom before starting")
        asyncio.get_running_loop().call_later(self.delay, send, self._reply(request))
        return True

    async def handle(self, request: Request) -> Reply:
        self.seen.append(request)
        if request.path == "/crash":
            raise RuntimeError("boom")
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._reply(request)

    def refused(self, status: int, message: str) -> Reply:
        return Reply(status, orjson.dumps({"status": {"error": message}, "time": 0.0}))


Served = tuple[HttpServer, EchoApp, int]


async def serve(limits: Limits = LIMITS) -> tuple[HttpServer, EchoApp, asyncio.Server]:
    app = EchoApp()
    front = HttpServer(app, limits, sweep_interval=0.05)
    server = await asyncio.get_running_loop().create_server(front, "127.0.0.1", 0)
    return front, app, server


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    front, app, server = await serve()
    try:
        yield front, app, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await front.shutdown(1.0)


async def open_to(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)


def echoed(body: bytes) -> dict:
    return orjson.loads(body)


async def exchange(port: int, data: bytes, count: int = 1) -> list:
    reader, writer = await open_to(port)
    try:
        writer.write(data)
        return [await read_response(reader, timeout=5) for _ in range(count)]
    finally:
        writer.close()


async def test_a_plain_request_is_answered_and_the_connection_kept(served: Served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    try:
        for i in range(3):
            writer.write(request("POST", f"/a?i={i}", b"x" * i, {"X-Tag": f"t{i}"}))
            reply = await read_response(reader)
            assert reply is not None and reply.status == 200
            assert echoed(reply.body) == {"method": "POST", "target": f"/a?i={i}", "length": i, "body": "x" * i,
                                          "tag": f"t{i}"}
            assert reply.headers["content-type"] == "application/json" and "date" in reply.headers
            assert "connection" not in reply.headers
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order_whether_from_a_task_or_a_callback(served: Served) -> None:
    _, app, port = served
    app.delay = 0.01
    paths = ["/now1", "/task1", "/now2", "/now3", "/task2", "/now4"]
    replies = await exchange(port, b"".join(request("GET", p) for p in paths), len(paths))
    assert [echoed(r.body)["target"] for r in replies] == paths


async def test_a_crash_is_a_500_and_the_connection_goes_on(served: Served) -> None:
    _, _, port = served
    replies = await exchange(port, request("GET", "/crash") + request("GET", "/now-crash") + request("GET", "/ok"), 3)
    assert [r.status for r in replies] == [500, 500, 200]
    assert "error" in echoed(replies[0].body)["status"]


async def test_a_chunked_body_is_read_whole(served: Served) -> None:
    _, _, port = served
    head = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    [reply] = await exchange(port, head + chunks)
    assert reply.status == 200 and echoed(reply.body)["body"] == "hello world"


async def test_expect_100_continue_gets_its_interim_answer(served: Served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    try:
        writer.write(b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        interim = await read_response(reader)
        assert interim is not None and interim.status == 100
        writer.write(b"body")
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and echoed(reply.body)["body"] == "body"
    finally:
        writer.close()


async def test_an_expectation_other_than_100_continue_is_a_417(served: Served) -> None:
    _, _, port = served
    [reply] = await exchange(port, b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: telepathy\r\nContent-Length: 0\r\n\r\n")
    assert reply.status == 417


async def test_http_1_0_is_served_and_closed_unless_kept_alive(served: Served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    try:
        writer.write(b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and echoed(reply.body)["target"] == "/old"
        writer.write(b"GET /old2 HTTP/1.0\r\n\r\n")
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and reply.headers.get("connection") == "close"
        assert await closed_by_server(reader, timeout=2)
    finally:
        writer.close()


async def test_an_absolute_form_target_is_served_as_its_path(served: Served) -> None:
    _, _, port = served
    [reply] = await exchange(port, b"GET http://gateway.example:6333/collections/c/points/1?x=1 HTTP/1.1\r\n"
                                   b"Host: gateway.example:6333\r\n\r\n")
    assert reply.status == 200 and echoed(reply.body)["target"] == "/collections/c/points/1?x=1"


async def test_connection_close_is_a_token_not_a_substring(served: Served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    try:
        writer.write(request("GET", "/a", headers={"Connection": "closed"}))
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and "connection" not in reply.headers
        writer.write(request("GET", "/b", headers={"Connection": "keep-alive, Close"}))
        reply = await read_response(reader)
        assert reply is not None and reply.headers.get("connection") == "close"
        assert await closed_by_server(reader, timeout=2)
    finally:
        writer.close()


async def test_a_compressed_body_is_decoded_and_a_bad_one_refused(served: Served) -> None:
    _, _, port = served
    payload = b'{"query": [1, 2, 3]}'
    for encoding, data in (("gzip", gzip.compress(payload)), ("deflate", zlib.compress(payload))):
        [reply] = await exchange(port, request("POST", "/z", data, {"Content-Encoding": encoding}))
        assert reply.status == 200 and echoed(reply.body)["body"] == payload.decode(), encoding
    [reply] = await exchange(port, request("POST", "/z", b"not gzip at all", {"Content-Encoding": "gzip"}))
    assert reply.status == 400 and "gzip" in echoed(reply.body)["status"]["error"]
    [reply] = await exchange(port, request("POST", "/z", b"x", {"Content-Encoding": "br"}))
    assert reply.status == 415
    bomb = gzip.compress(b"0" * (LIMITS.max_request_bytes * 4))
    [reply] = await exchange(port, request("POST", "/z", bomb, {"Content-Encoding": "gzip"}))
    assert reply.status == 413


# Each is refused with a 4xx and its connection closed: never read a second way.
AMBIGUOUS = {
    "length and chunked": b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"0\r\n\r\n",
    "differing lengths": b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "repeated length": b"POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "obs-fold": b"GET /s HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
    "bare LF": b"GET /s HTTP/1.1\r\nHost: x\nX-B: 2\r\n\r\n",
    "NUL in a value": b"GET /s HTTP/1.1\r\nHost: x\r\nX-C: a\x00b\r\n\r\n",
    "space before colon": b"GET /s HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n",
    "chunked not last": b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "no host": b"GET /s HTTP/1.1\r\n\r\n",
    "two hosts": b"GET /s HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "bad version": b"GET /s HTTP/9.9\r\nHost: x\r\n\r\n",
    "control in target": b"GET /s\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "not http": b"HELLO\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(AMBIGUOUS))
async def test_ambiguous_framing_is_a_4xx_and_the_connection_closes(served: Served, name: str) -> None:
    _, app, port = served
    reader, writer = await open_to(port)
    try:
        writer.write(request("GET", "/before") + AMBIGUOUS[name] + request("GET", "/after"))
        first = await read_response(reader)
        assert first is not None and first.status == 200 and echoed(first.body)["target"] == "/before"
        refusal = await read_response(reader)
        assert refusal is not None, name
        assert 400 <= refusal.status < 500 or refusal.status == 505, (name, refusal)
        assert "error" in echoed(refusal.body)["status"]
        assert refusal.headers.get("connection") == "close"
        assert await closed_by_server(reader, timeout=2)
    finally:
        writer.close()
    assert [r.path for r in app.seen] == ["/before"]  # nothing after the ambiguity reached the application


async def test_a_long_head_is_a_431(served: Served) -> None:
    _, _, port = served
    [reply] = await exchange(port, request("GET", "/h", headers={"X-Big": "a" * 5000}))
    assert reply.status == 431
    [reply] = await exchange(port, request("GET", "/h", headers={f"X-{i}": "v" for i in range(30)}))
    assert reply.status == 431
    [reply] = await exchange(port, request("GET", "/" + "p" * 5000))
    assert reply.status == 431


async def test_a_head_that_never_ends_is_refused_without_being_kept(served: Served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    try:
        writer.write(b"GET /h HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        for _ in range(40):  # 40 x 1 KiB: the head bound is 4 KiB
            writer.write(b"a" * 1024)
        reply = await read_response(reader)
        assert reply is not None and reply.status == 431
    finally:
        writer.close()


async def test_a_large_body_is_a_413_before_it_is_read(served: Served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    try:
        writer.write(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        reply = await read_response(reader)
        assert reply is not None and reply.status == 413 and reply.headers.get("connection") == "close"
    finally:
        writer.close()
    [reply] = await exchange(port, b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   + b"".join(b"8000\r\n" + b"c" * 0x8000 + b"\r\n" for _ in range(3)))
    assert reply.status == 413


async def test_slow_heads_and_bodies_get_a_408_and_idle_connections_close(served: Served) -> None:
    _, _, port = served
    for partial in (b"GET /slow HTTP/1.1\r\nHost: x\r\n",
                    b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"):
        reader, writer = await open_to(port)
        try:
            writer.write(partial)
            reply = await read_response(reader, timeout=5)
            assert reply is not None and reply.status == 408
            assert await closed_by_server(reader, timeout=2)
        finally:
            writer.close()
    reader, writer = await open_to(port)
    try:
        writer.write(request("GET", "/a"))
        assert (await read_response(reader)) is not None
        assert await closed_by_server(reader, timeout=5)  # keep-alive 0.6 s
    finally:
        writer.close()


async def test_a_trickling_head_does_not_extend_its_deadline(served: Served) -> None:
    _, _, port = served
    reader, writer = await open_to(port)
    try:
        head = b"GET /trickle HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60
        replied = asyncio.create_task(read_response(reader, timeout=5))
        for byte in head:  # one byte every 20 ms: 1.6 s in all, against a 0.4 s head deadline
            if replied.done():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.02)
        reply = await replied
        assert reply is not None and reply.status == 408
    finally:
        writer.close()


async def test_a_client_that_stops_reading_is_dropped(served: Served) -> None:
    front, app, port = served
    app.delay = 0.0
    _, writer = await open_to(port)
    try:
        big = request("POST", "/now", b"x" * 60000)
        for _ in range(200):  # 12 MB of answers to a client that reads nothing
            writer.write(big)
            try:
                await asyncio.wait_for(writer.drain(), 0.2)
            except (TimeoutError, ConnectionError):
                break
        deadline = asyncio.get_running_loop().time() + 10
        while front.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert not front.connections
    finally:
        writer.close()


async def test_many_pipelined_requests_behind_a_slow_reader_cost_no_stack_and_all_get_answers() -> None:
    front, _, server = await serve(replace(LIMITS, keepalive_timeout_s=30, send_timeout_s=30, head_timeout_s=30))
    port = server.sockets[0].getsockname()[1]
    try:
        count = 50_000
        data = b"".join(b"GET /now%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(count))
        reader, writer = await open_to(port)
        writer.write(data)  # all at once; nothing is read for a while, so answers back up
        await asyncio.sleep(0.3)
        seen = 0
        while seen < count:
            reply = await read_response(reader, timeout=10)
            assert reply is not None and reply.status == 200
            assert echoed(reply.body)["target"] == f"/now{seen}"
            seen += 1
        writer.close()
    finally:
        server.close()
        await front.shutdown(1.0)


async def test_shutdown_lets_a_request_in_flight_answer() -> None:
    front, app, server = await serve()
    port = server.sockets[0].getsockname()[1]
    app.delay = 0.3
    reader, writer = await open_to(port)
    writer.write(request("GET", "/task"))
    while not app.seen:
        await asyncio.sleep(0.01)
    server.close()
    stopping = asyncio.create_task(front.shutdown(2.0))
    reply = await read_response(reader)
    assert reply is not None and reply.status == 200 and reply.headers.get("connection") == "close"
    writer.close()
    await stopping
