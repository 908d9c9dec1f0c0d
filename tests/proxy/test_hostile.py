"""Hostile clients and misbehaving regions against the real gateway process.

Regions sit behind recording proxies (tests/http/recording.py) so every byte the gateway wrote on
its pooled region connections can be parsed back: a name smuggling a request line in must never
become a second request, and never reach a region undecoded.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, unquote

import aiohttp
import orjson
import pytest
from aiohttp import web
from yarl import URL

from rgw.qdrant.errors import BadRequest
from rgw.qdrant.names import check_collection_name
from rgw.topology import Topology, local_topology
from tests.http.raw import read_response, request
from tests.http.recording import RecordingProxy
from tests.proxy.helpers import DIM, connect, seed_collection

SMUGGLED = "zz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nDELETE /collections/victim HTTP/1.1\r\nX-Pad: y"
HOSTILE_NAMES = [SMUGGLED, "a\rb", "a\nb", "a\x00b", "a b", "a/b", "a?b", "a#b", "café", "名前", "%2F", "..", "a\tb",
                 "x" * 300]


def refused_by_qdrant_rules(name: str) -> bool:
    try:
        check_collection_name(name)
    except BadRequest:
        return True
    return False


class Recorded:
    def __init__(self, topo: Topology, proxies: dict[str, RecordingProxy], direct: dict[str, int]) -> None:
        self.topo = topo
        self.proxies = proxies
        self.direct = direct  # each store's own port, behind its recording proxy

    @property
    def url(self) -> str:
        return self.topo.gateway_url

    def store_url(self, region: str) -> str:
        return f"http://127.0.0.1:{self.direct[region]}"

    def sent(self) -> list:
        return [r for p in self.proxies.values() for r in p.requests()]


@pytest.fixture
async def recorded(tmp_path: Path) -> AsyncIterator[Recorded]:
    topo = local_topology(tmp_path / "topology")
    direct = dict(topo.store_ports)
    proxies = {name: await RecordingProxy(port).start() for name, port in direct.items()}
    topo.store_ports = {name: proxy.port for name, proxy in proxies.items()}  # the gateway reaches stores through them
    topo.gateway.env["RGW_ADMIN_TOKEN"] = "t0ken"
    await asyncio.to_thread(topo.start)
    try:
        yield Recorded(topo, proxies, direct)
    finally:
        await asyncio.to_thread(topo.stop)
        for proxy in proxies.values():
            await proxy.stop()


def count_points(url: str, collection: str) -> int:
    client = connect(url)
    try:
        return client.count(collection).count
    finally:
        client.close()


def collection_names(url: str) -> set[str]:
    client = connect(url)
    try:
        return {c.name for c in client.get_collections().collections}
    finally:
        client.close()


async def raw_exchange(port: int, data: bytes) -> tuple[int | None, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        try:
            reply = await read_response(reader, timeout=15)
        except (ConnectionError, asyncio.IncompleteReadError):
            return None, b""
        return (reply.status, reply.body) if reply is not None else (None, b"")
    finally:
        writer.close()


def routes_naming(name: str) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    """Every kind of route that takes a collection name, with the name percent-encoded in its path or in its body."""
    encoded = quote(name, safe="")
    vector = orjson.dumps({"query": [0.1] * DIM, "limit": 1})
    admin = {"Authorization": "Bearer t0ken", "Content-Type": "application/json"}
    json = {"Content-Type": "application/json"}
    return [
        ("GET", f"/collections/{encoded}", None, {}),
        ("POST", f"/collections/{encoded}/points/query", vector, json),
        ("GET", f"/collections/{encoded}/points/1", None, {}),
        ("PUT", f"/collections/{encoded}", orjson.dumps({"vectors": {"size": DIM, "distance": "Cosine"}}), json),
        ("PUT", f"/collections/{encoded}/points?wait=true",
         orjson.dumps({"points": [{"id": 1, "vector": [0.1] * DIM}]}), json),
        ("POST", f"/collections/{encoded}/points/delete?wait=true", orjson.dumps({"points": [1]}), json),
        ("POST", f"/gateway/collections/{encoded}/search", orjson.dumps({"vector": [0.1] * DIM}), json),
        ("POST", f"/gateway/admin/collections/{encoded}/mode", orjson.dumps({"source": "auto"}), admin),
        ("PUT", f"/gateway/admin/policies/{encoded}", orjson.dumps({"cache_ttl_s": 1}), admin),
        ("POST", "/gateway/admin/backups", orjson.dumps({"collection": name}), admin),
        ("POST", "/gateway/admin/drills", orjson.dumps({"collection": name}), admin),
        ("POST", "/gateway/admin/restores", orjson.dumps({"collection": "victim", "to": "primary", "as": name}), admin),
    ]


async def test_names_smuggling_requests_are_refused_or_encoded_and_never_become_a_second_request(
        recorded: Recorded) -> None:
    url = recorded.url
    await asyncio.to_thread(seed_collection, url, "victim", 20)
    async with aiohttp.ClientSession() as session:
        for name in HOSTILE_NAMES:
            for method, path, body, headers in routes_naming(name):
                async with session.request(method, URL(url + path, encoded=True), data=body, headers=headers) as resp:
                    payload = await resp.read()
                    assert resp.status < 500, (name, method, path, resp.status, payload)
                    if refused_by_qdrant_rules(name):
                        assert resp.status in (400, 404), (name, method, path, resp.status, payload)
                        assert b"collection name" in payload or b"not a collection name" in payload, payload
    # The victim is whole on both regions, and nothing on any region connection was a smuggled request.
    for region in ("primary", "secondary"):
        assert await asyncio.to_thread(count_points, recorded.store_url(region), "victim") == 20
    sent = recorded.sent()
    assert sent, "the recording saw nothing"
    for one in sent:
        assert not (one.method == "DELETE" and one.target.startswith("/collections/victim")), one
        path = one.target.partition("?")[0]
        assert all(c.isascii() and c.isprintable() and c != " " for c in path), one
        segments = path.split("/")
        if len(segments) > 2 and segments[1] == "collections" and segments[2]:
            check_collection_name(unquote(segments[2]))  # every name a region was sent is a valid one


async def test_unusual_but_valid_names_travel_encoded_and_work(recorded: Recorded) -> None:
    url = recorded.url
    names = {"a b", "a#b", "café", "名前", "%2F"}
    for name in names:
        await asyncio.to_thread(seed_collection, url, name, 5)
        assert await asyncio.to_thread(count_points, url, name) == 5
    for region in ("primary", "secondary"):
        assert names <= await asyncio.to_thread(collection_names, recorded.store_url(region))


async def test_pooled_region_connections_never_hand_one_clients_answer_to_another(recorded: Recorded) -> None:
    url = recorded.url
    await asyncio.to_thread(seed_collection, url, "c", 50)
    mixed: list[str] = []

    async def reader(worker: int) -> None:
        rng = random.Random(worker)
        async with aiohttp.ClientSession() as session:
            for _ in range(150):
                point = rng.randrange(50)
                async with session.get(f"{url}/collections/c/points/{point}") as resp:
                    body = await resp.json()
                    if resp.status != 200 or body["result"]["id"] != point:
                        mixed.append(f"asked {point}, got {resp.status} {str(body)[:120]}")

    async def attacker() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                for name in HOSTILE_NAMES:
                    for method, path, body, headers in routes_naming(name)[:7]:
                        target = URL(url + path, encoded=True)
                        async with session.request(method, target, data=body, headers=headers) as resp:
                            await resp.read()

    await asyncio.gather(*(reader(i) for i in range(4)), attacker())
    assert mixed == []


async def test_header_values_that_break_parsers_get_a_4xx_not_a_500(recorded: Recorded) -> None:
    port = recorded.topo.gateway_port
    status, body = await raw_exchange(port, request("POST", "/collections/victim/points/query", b"{}",
                                                    {"X-Gateway-Min-LSN": "\xb2"}))
    assert status == 400 and b"X-Gateway-Min-LSN" in body
    status, body = await raw_exchange(port, request("GET", "/gateway/admin/jobs/x",
                                                    headers={"Authorization": "Bearer t\xff\xfeken"}))
    assert status == 401
    status, _ = await raw_exchange(port, request("POST", "/collections/victim/points/query", b"{}",
                                                 {"X-Gateway-Query-Text": "%ff%fe"}))
    assert status == 400
    status, _ = await raw_exchange(port, b"GET /collections/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400  # a target must be ASCII: percent-encode it


async def test_names_clients_invent_do_not_grow_what_the_gateway_remembers(recorded: Recorded) -> None:
    url = recorded.url
    async with aiohttp.ClientSession() as session:
        for i in range(600):
            async with session.get(f"{url}/collections/invented-{i}-{random.random()}") as resp:
                assert resp.status == 404
        async with session.get(f"{url}/gateway/status") as resp:
            status = await resp.json()
    for region in status["regions"]:
        assert len(region["collections"]) <= 300, len(region["collections"])


class FaultyFront:
    """A load balancer in front of a real store that answers some paths itself: an HTML 502, a 501, a 400."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self.poison: dict[str, tuple[int, bytes, str]] = {}
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> FaultyFront:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        await self._session.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        for fragment, (status, body, content_type) in self.poison.items():
            if fragment in request.path_qs:
                return web.Response(status=status, body=body, content_type=content_type)
        async with self._session.request(request.method, self.store_url + request.path_qs, data=await request.read(),
                                         headers={"Content-Type": "application/json"}) as resp:
            return web.Response(status=resp.status, body=await resp.read(), content_type="application/json")


HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
            b"</center>\r\nX-Injected: yes\r\n\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@pytest.fixture
async def faulty_primary(tmp_path: Path) -> AsyncIterator[tuple[Topology, FaultyFront]]:
    topo = local_topology(tmp_path / "topology")
    front = await FaultyFront(topo.store_url("primary")).start()
    topo.store_ports = {**topo.store_ports, "primary": front.port}
    await asyncio.to_thread(topo.start)
    try:
        yield topo, front
    finally:
        await asyncio.to_thread(topo.stop)
        await front.stop()


async def test_an_html_502_from_one_region_is_a_clean_failover_with_clean_attempts(faulty_primary) -> None:
    topo, front = faulty_primary
    vectors = await asyncio.to_thread(seed_collection, topo.gateway_url, "docs", 20)
    front.poison["/points/query"] = (502, HTML_502, "text/html")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{topo.gateway_url}/collections/docs/points/query",
                                json={"query": vectors[3], "limit": 1}) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["result"]["points"][0]["id"] == 3
            assert resp.headers["X-Gateway-Source"] == "secondary"
            attempts = resp.headers["X-Gateway-Attempts"]
            assert "primary: HTTP 502" in attempts and "secondary: ok" in attempts
            assert "X-Injected" not in resp.headers
            assert "\r" not in attempts and "\n" not in attempts


@pytest.mark.parametrize("status", [501, 400])
async def test_a_regions_definitive_answer_reaches_the_client_and_ejects_nobody(faulty_primary, status: int) -> None:
    topo, front = faulty_primary
    await asyncio.to_thread(seed_collection, topo.gateway_url, "docs", 20)
    error = orjson.dumps({"status": {"error": f"the region says {status}"}, "time": 0.0})
    front.poison["/points/search/matrix"] = (status, error, "application/json")
    async with aiohttp.ClientSession() as session:
        for _ in range(10):
            async with session.post(f"{topo.gateway_url}/collections/docs/points/search/matrix/pairs",
                                    json={"sample": 5}) as resp:
                assert resp.status == status
                assert (await resp.json())["status"]["error"] == f"the region says {status}"
                assert resp.headers["X-Gateway-Source"] == "primary"
        async with session.get(f"{topo.gateway_url}/gateway/status") as resp:
            regions = {r["name"]: r for r in (await resp.json())["regions"]}
    assert regions["primary"]["outlier"]["ejections"] == 0 and regions["primary"]["state"] == "healthy"


async def test_a_write_every_region_rejects_is_that_error_not_completed(recorded: Recorded) -> None:
    url = recorded.url
    named = {"a": {"size": DIM, "distance": "Cosine"}, "b": {"size": DIM, "distance": "Cosine"}}
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{url}/collections/docs", json={"vectors": named}) as resp:
            assert resp.status == 200
        # Behind the gateway's back, both regions lose vector `b`: the gateway still believes in it,
        # so the write below is journaled, and every region refuses it.
        for region in ("primary", "secondary"):
            store = recorded.store_url(region)
            async with session.delete(f"{store}/collections/docs") as resp:
                assert resp.status == 200
            async with session.put(f"{store}/collections/docs", json={"vectors": {"a": named["a"]}}) as resp:
                assert resp.status == 200
        async with session.put(f"{url}/collections/docs/points?wait=true",
                               json={"points": [{"id": 1, "vector": {"b": [0.1] * DIM}}]}) as resp:
            body = await resp.json()
            assert 400 <= resp.status < 500, body
            assert "error" in body["status"] and "b" in body["status"]["error"], body
            assert "X-Gateway-LSN" not in resp.headers
        async with session.get(f"{url}/gateway/status") as resp:
            status = await resp.json()
    for region in status["regions"]:
        assert not region["replication"]["diverged"], region["replication"]
        assert region["replication"]["dead_letters_total"] == 0
    assert status["journal"]["refused_everywhere"] == 1


async def test_many_pipelined_requests_some_malformed_behind_a_slow_reader(recorded: Recorded) -> None:
    port = recorded.topo.gateway_port
    good = request("GET", "/readyz")
    count = 50_000
    bad_at = 40_000
    ambiguous = b"GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
    data = good * bad_at + ambiguous + good * (count - bad_at)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    try:
        writer.write(data)
        await asyncio.sleep(0.5)  # read nothing for a while: the answers back up behind the client
        answered = 0
        while True:
            try:
                reply = await read_response(reader, timeout=30)
            except (ConnectionError, asyncio.IncompleteReadError):
                break
            if reply is None:
                break
            if reply.status != 200:
                assert reply.status == 400 and answered == bad_at
                assert await reader.read() == b""  # then the connection closes cleanly
                break
            answered += 1
        assert answered == bad_at
    finally:
        writer.close()
    status, _ = await raw_exchange(port, request("GET", "/readyz"))
    assert status == 200
