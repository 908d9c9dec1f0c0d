"""The gateway's own HTTP/1.1 front door, against garbage and unusual HTTP, on the real process.

Plain requests are answered by rgw.http.server; anything else is handed, mid-connection, to
aiohttp. Either way a client gets a correct answer or a clean refusal, and the gateway lives on.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import orjson
import pytest

from rgw.topology import Topology, local_topology
from tests.http.raw import closed_by_server, read_response, request
from tests.proxy.helpers import seed_collection

COLLECTION = "front"
QUERY = f"/collections/{COLLECTION}/points/query"
PROVENANCE = ("x-gateway-source", "x-gateway-mode", "x-gateway-coverage", "x-gateway-staleness")


SHORT_DEADLINES_S = 1.0  # head and body deadlines of this module's gateway: tests outlast them


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Topology, list[list[float]]]]:
    limits = f"\n[limits]\nhead_timeout_s = {SHORT_DEADLINES_S}\nbody_timeout_s = {SHORT_DEADLINES_S}\n"
    topo = local_topology(tmp_path_factory.mktemp("front"), extra_config=limits)
    topo.start()
    try:
        yield topo, seed_collection(topo.gateway_url, COLLECTION, points=50)
    finally:
        topo.stop()


async def connect(topo: Topology) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(topo.host, topo.gateway_port)


def query(vector: list[float], limit: int = 3) -> bytes:
    return orjson.dumps({"query": vector, "limit": limit})


def top_id(body: bytes) -> int:
    return orjson.loads(body)["result"]["points"][0]["id"]


async def assert_still_serving(topo: Topology, vector: list[float], expected_id: int) -> None:
    reader, writer = await connect(topo)
    try:
        writer.write(request("POST", QUERY, query(vector)))
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and top_id(reply.body) == expected_id
    finally:
        writer.close()


async def test_plain_requests_keep_the_connection_and_say_who_answered(seeded) -> None:
    topo, vectors = seeded
    reader, writer = await connect(topo)
    try:
        for i in (1, 2, 3):
            writer.write(request("POST", QUERY, query(vectors[i])))
            reply = await read_response(reader)
            assert reply is not None and reply.status == 200
            assert top_id(reply.body) == i
            assert all(name in reply.headers for name in PROVENANCE), reply.headers
            assert reply.headers["x-gateway-source"] == "primary" and reply.headers["x-gateway-mode"] == "normal"
            assert reply.headers["content-type"] == "application/json" and "date" in reply.headers
    finally:
        writer.close()


async def test_pipelined_requests_of_every_kind_are_answered_in_order(seeded) -> None:
    topo, vectors = seeded
    reader, writer = await connect(topo)
    try:
        # Three queries, a collection read, the status document and a query again, in one write.
        writer.write(b"".join([request("POST", QUERY, query(vectors[i])) for i in (5, 6, 7)]
                              + [request("GET", f"/collections/{COLLECTION}"), request("GET", "/gateway/status"),
                                 request("POST", QUERY, query(vectors[8]))]))
        replies = [await read_response(reader) for _ in range(6)]
        assert all(r is not None and r.status == 200 for r in replies), replies
        assert [top_id(r.body) for r in replies[:3]] == [5, 6, 7]
        assert orjson.loads(replies[3].body)["result"]["status"] in ("green", "yellow")
        assert "regions" in orjson.loads(replies[4].body)
        assert top_id(replies[5].body) == 8 and replies[5].headers["x-gateway-source"] == "primary"
    finally:
        writer.close()


async def test_chunked_body_is_answered_like_a_plain_one(seeded) -> None:
    topo, vectors = seeded
    body = query(vectors[9])
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    reader, writer = await connect(topo)
    try:
        writer.write(request("POST", QUERY, headers={"Transfer-Encoding": "chunked"}) + chunked)
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200, reply
        assert top_id(reply.body) == 9 and all(name in reply.headers for name in PROVENANCE)
    finally:
        writer.close()


async def test_expect_100_continue_gets_its_interim_answer(seeded) -> None:
    topo, vectors = seeded
    body = query(vectors[10])
    reader, writer = await connect(topo)
    try:
        writer.write(request("POST", QUERY, headers={"Expect": "100-continue",
                                                     "Content-Length": str(len(body))}))
        interim = await read_response(reader)
        assert interim is not None and interim.status == 100
        writer.write(body)
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and top_id(reply.body) == 10
    finally:
        writer.close()


GARBAGE = {
    "not http": b"GARBAGE\r\n\r\n",
    "binary": bytes(random.Random(7).randrange(256) for _ in range(300)) + b"\r\n\r\n",
    "bad version": b"GET /collections HTTP/9.9\r\nHost: x\r\n\r\n",
    "space in header name": b"GET /collections HTTP/1.1\r\nBad Header: x\r\n\r\n",
    "header without colon": b"GET /collections HTTP/1.1\r\nnocolon\r\n\r\n",
    "huge header": b"GET /collections HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    "bad content-length": b"POST " + QUERY.encode() + b" HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    "conflicting content-lengths": b"POST " + QUERY.encode() + b" HTTP/1.1\r\nContent-Length: 2\r\n"
                                   b"Content-Length: 3\r\n\r\n{}",
    "length and chunked": b"POST " + QUERY.encode() + b" HTTP/1.1\r\nContent-Length: 4\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad chunk size": b"POST " + QUERY.encode() + b" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "bare LF in header": b"GET /collections HTTP/1.1\r\nX-A: 1\nX-B: 2\r\n\r\n",
    "obs-fold": b"GET /collections HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
    "NUL in header": b"GET /collections HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "absolute-form to nowhere": b"GET ftp://x/collections HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
async def test_garbage_is_refused_cleanly_and_the_gateway_lives(seeded, name: str) -> None:
    topo, vectors = seeded
    reader, writer = await connect(topo)
    try:
        writer.write(GARBAGE[name])
        reply = await read_response(reader)
        assert reply is not None, name  # a refusal says why before the connection closes
        assert 400 <= reply.status < 500 or reply.status == 505, (name, reply)
        assert "error" in orjson.loads(reply.body)["status"]
        assert await closed_by_server(reader, timeout=5)
    finally:
        writer.close()
    await assert_still_serving(topo, vectors[11], 11)


async def test_oversized_body_gets_413_in_qdrant_shape(seeded) -> None:
    topo, vectors = seeded
    size = 33 * 1024 * 1024
    reader, writer = await connect(topo)
    try:
        writer.write(f"PUT /collections/{COLLECTION}/points HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())

        async def upload() -> None:
            chunk = b"0" * (1 << 20)
            try:
                for _ in range(size // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
            except ConnectionError:
                pass  # the gateway may stop reading once it has refused

        sending = asyncio.create_task(upload())
        reply = await read_response(reader, timeout=60)
        sending.cancel()
        assert reply is not None and reply.status == 413
        assert "too large" in orjson.loads(reply.body)["status"]["error"].lower()
    finally:
        writer.close()
    await assert_still_serving(topo, vectors[12], 12)


async def test_connection_close_is_honoured(seeded) -> None:
    topo, vectors = seeded
    reader, writer = await connect(topo)
    try:
        writer.write(request("POST", QUERY, query(vectors[13]), headers={"Connection": "close"}))
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and reply.headers.get("connection") == "close"
        assert await closed_by_server(reader, timeout=5)
    finally:
        writer.close()


async def test_a_client_vanishing_mid_request_is_harmless(seeded) -> None:
    topo, vectors = seeded
    for partial in (b"POST " + QUERY.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"query\"",
                    b"POST " + QUERY.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Le"):
        _, writer = await connect(topo)
        writer.write(partial)
        await writer.drain()
        writer.close()
    # The vanished requests' head and body deadlines pass (what would fire on them fires now)...
    await asyncio.sleep(SHORT_DEADLINES_S * 2 + 1.5)
    # ...and the gateway is still serving, with nothing unhandled in its log.
    await assert_still_serving(topo, vectors[14], 14)
    assert "Traceback" not in topo.gateway.log_path.read_text()


async def test_bad_input_inside_a_plain_request_is_a_qdrant_4xx(seeded) -> None:
    topo, _ = seeded
    reader, writer = await connect(topo)
    try:
        writer.write(request("POST", QUERY, b'{"query": [0.1, 0.2'))
        reply = await read_response(reader)
        assert reply is not None and reply.status == 400 and "error" in orjson.loads(reply.body)["status"]
        writer.write(request("POST", QUERY, query([0.1] * 8), headers={"X-Gateway-Min-LSN": "soon"}))
        reply = await read_response(reader)
        assert reply is not None and reply.status == 400
        assert "X-Gateway-Min-LSN" in orjson.loads(reply.body)["status"]["error"]
        writer.write(request("GET", "/readyz"))  # and the connection is still in step
        reply = await read_response(reader)
        assert reply is not None and reply.status == 200 and reply.body == b"readyz check passed"
    finally:
        writer.close()
