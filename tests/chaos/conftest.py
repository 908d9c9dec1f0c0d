"""Fixtures for the fault proxy tests: a tiny real HTTP backend on loopback and a proxy in front of it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import uvloop
from aiohttp import web

from rgw.chaos.endpoints import Endpoint
from rgw.chaos.faultproxy import FaultProxy
from rgw.procs import free_port


def pytest_asyncio_loop_factories(
        config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test runs on both loops: the gateway runs on uvloop, and RST and half-close
    handling go through loop internals that differ between the two."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _payload(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * int(request.match_info["n"]))


@pytest.fixture
async def backend() -> AsyncIterator[Endpoint]:
    """GET / answers "ok"; GET /bytes/N answers N bytes."""
    app = web.Application()
    app.router.add_get("/", _hello)
    app.router.add_get("/bytes/{n}", _payload)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    endpoint = Endpoint("127.0.0.1", free_port())
    await web.TCPSite(runner, endpoint.host, endpoint.port).start()
    try:
        yield endpoint
    finally:
        await runner.cleanup()


@pytest.fixture
async def proxy(backend: Endpoint) -> AsyncIterator[FaultProxy]:
    proxy = FaultProxy("store", Endpoint("127.0.0.1", free_port()), backend, rng=random.Random(7))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that opens a new connection per request, so each request gets its own toxicity draw."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                     timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session
