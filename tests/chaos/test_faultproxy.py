"""Each fault as a user sees it: real backend, real proxy, real clients, all on loopback.

Timing assertions are lower bounds only: a fault must cost at least what it promises.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from rgw.chaos.endpoints import Endpoint
from rgw.chaos.faultproxy import FaultProxy, NameTaken
from rgw.chaos.faults import Bandwidth, Blackhole, Direction, Latency, LimitData, Reset, Slicer, SlowClose

from .helpers import eventually, http_get, raw_connection, read_all, url

SHORT = aiohttp.ClientTimeout(total=0.5)


async def _get(client: aiohttp.ClientSession, endpoint: Endpoint, path: str = "/") -> bytes:
    async with client.get(url(endpoint, path)) as response:
        assert response.status == 200
        return await response.read()


async def test_forwards_intact_without_faults(proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    assert await _get(client, proxy.listen) == b"ok"
    assert await _get(client, proxy.listen, "/bytes/1000000") == b"x" * 1_000_000
    await eventually(lambda: proxy.stats.active == 0, "connections to close")
    assert proxy.stats.accepted == 2
    assert proxy.stats.bytes_down > 1_000_000
    assert proxy.stats.bytes_up > 0
    assert proxy.stats.faults_applied == 0


@pytest.mark.parametrize("direction", [Direction.DOWNSTREAM, Direction.UPSTREAM])
async def test_latency_delays_at_least_the_configured_time(
        proxy: FaultProxy, client: aiohttp.ClientSession, direction: Direction) -> None:
    proxy.add(Latency(latency_ms=300, jitter_ms=0, direction=direction))
    started = time.monotonic()
    assert await _get(client, proxy.listen) == b"ok"
    assert time.monotonic() - started >= 0.3
    assert proxy.applied("latency") == 1


async def test_bandwidth_paces_the_body(proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    proxy.add(Bandwidth(rate_kb_s=24))
    started = time.monotonic()
    assert await _get(client, proxy.listen, "/bytes/24000") == b"x" * 24_000
    # 24 000 bytes of body alone at 24 000 bytes/s: at least a second, minus timer granularity.
    assert time.monotonic() - started >= 0.95


async def test_reset_on_accept_gives_a_connection_error(proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    proxy.add(Reset())
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(client, proxy.listen)
    async with raw_connection(proxy.listen) as (reader, _):
        with pytest.raises(ConnectionResetError):
            await read_all(reader)


async def test_reset_after_bytes_cuts_the_response(proxy: FaultProxy) -> None:
    proxy.add(Reset(after_bytes=5000, direction=Direction.DOWNSTREAM))
    async with raw_connection(proxy.listen) as (reader, writer):
        writer.write(http_get("/bytes/100000"))
        with pytest.raises(ConnectionResetError):
            await read_all(reader)
    assert proxy.stats.bytes_down <= 5000


async def test_reset_after_ms_cuts_an_open_connection(proxy: FaultProxy) -> None:
    async with raw_connection(proxy.listen) as (reader, _):
        await eventually(lambda: proxy.stats.active == 1, "the proxy to accept")
        # Measured on the event loop's clock, which the proxy's timer runs on. uvloop's counts whole
        # milliseconds, so the difference is compared in milliseconds: as floats, 200 ms can come
        # out as 0.19999999.
        loop = asyncio.get_running_loop()
        started = loop.time()
        proxy.add(Reset(after_ms=200))  # added while the connection is open: it applies to it too
        with pytest.raises(ConnectionResetError):
            await read_all(reader)
        assert round((loop.time() - started) * 1000) >= 200


async def test_blackhole_times_out_while_the_backend_is_fine(
        proxy: FaultProxy, backend: Endpoint, client: aiohttp.ClientSession) -> None:
    proxy.add(Blackhole())
    with pytest.raises(asyncio.TimeoutError):
        async with client.get(url(proxy.listen), timeout=SHORT):
            pass
    assert await _get(client, backend) == b"ok"


async def test_blackhole_stops_connections_already_open(proxy: FaultProxy) -> None:
    connector = aiohttp.TCPConnector(limit=1)  # keep-alive: the second request reuses the first's socket
    async with aiohttp.ClientSession(connector=connector) as session:
        assert await _get(session, proxy.listen) == b"ok"
        proxy.add(Blackhole())
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(url(proxy.listen), timeout=SHORT):
                pass
    assert proxy.stats.accepted == 1


async def test_blackhole_with_timeout_closes_the_connection(proxy: FaultProxy) -> None:
    proxy.add(Blackhole(timeout_ms=200))
    started = time.monotonic()
    async with raw_connection(proxy.listen) as (reader, writer):
        writer.write(http_get("/"))
        assert await read_all(reader) == b""  # a close, and nothing before it
    assert time.monotonic() - started >= 0.2


async def test_stop_refuses_and_start_restores_on_the_same_port(
        proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    listen = proxy.listen
    await proxy.stop()
    assert not proxy.enabled
    with pytest.raises(aiohttp.ClientConnectorError) as refused:
        await _get(client, listen)
    assert isinstance(refused.value.os_error, ConnectionRefusedError)
    await proxy.start()
    assert proxy.listen == listen
    assert await _get(client, listen) == b"ok"


async def test_limit_data_closes_after_exactly_that_many_bytes(proxy: FaultProxy) -> None:
    proxy.add(LimitData(after_bytes=1000))
    async with raw_connection(proxy.listen) as (reader, writer):
        writer.write(http_get("/bytes/10000"))
        data = await read_all(reader)
    assert len(data) == 1000
    assert data.startswith(b"HTTP/1.1 200")


async def test_slow_close_delays_the_close(proxy: FaultProxy) -> None:
    proxy.add(SlowClose(delay_ms=300))
    async with raw_connection(proxy.listen) as (reader, writer):
        writer.write(http_get("/", version="1.0"))  # HTTP/1.0: the backend closes after answering
        started = time.monotonic()
        data = await read_all(reader)
    assert data.endswith(b"ok")
    assert time.monotonic() - started >= 0.3


async def test_slicer_delivers_everything_in_delayed_pieces(
        proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    proxy.add(Slicer(average_size=100, size_variation=50, delay_ms=10))
    started = time.monotonic()
    assert await _get(client, proxy.listen, "/bytes/2000") == b"x" * 2000
    # More than 2000 bytes in pieces of at most 150 bytes: at least 13 pauses of 10 ms.
    assert time.monotonic() - started >= 0.13


async def test_toxicity_zero_never_applies(proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    proxy.add(Reset(toxicity=0))
    for _ in range(20):
        assert await _get(client, proxy.listen) == b"ok"
    assert proxy.applied("reset") == 0
    assert proxy.stats.faults_applied == 0


async def test_toxicity_is_drawn_per_connection(proxy: FaultProxy) -> None:
    proxy.add(Reset(toxicity=0.5))
    resets = 0
    for _ in range(30):
        # Raw connections: an HTTP client would quietly retry a reset GET and blur the count.
        async with raw_connection(proxy.listen) as (reader, writer):
            writer.write(http_get("/", version="1.0"))
            try:
                assert (await read_all(reader)).endswith(b"ok")
            except ConnectionResetError:
                resets += 1
    assert 0 < resets < 30
    assert proxy.applied("reset") == resets


async def test_removing_a_fault_restores_service(proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    proxy.add(Reset())
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(client, proxy.listen)
    assert proxy.remove("reset") == Reset()
    assert proxy.faults == []
    assert await _get(client, proxy.listen) == b"ok"


async def test_fault_names_are_unique_per_proxy(proxy: FaultProxy) -> None:
    proxy.add(Latency(latency_ms=1))
    with pytest.raises(NameTaken, match="name"):
        proxy.add(Latency(latency_ms=2))
    proxy.add(Latency(name="slow2", latency_ms=2))
    assert [f.name for f in proxy.faults] == ["latency", "slow2"]
    with pytest.raises(KeyError):
        proxy.remove("nope")
    proxy.clear()
    assert proxy.faults == []


async def test_stop_cuts_open_connections_cleanly(proxy: FaultProxy, client: aiohttp.ClientSession) -> None:
    proxy.add(Latency(latency_ms=10_000))
    request = asyncio.create_task(_get(client, proxy.listen))
    await eventually(lambda: proxy.stats.active == 1, "the request to reach the proxy")
    await proxy.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await asyncio.wait_for(request, 5)
    assert proxy.stats.active == 0
