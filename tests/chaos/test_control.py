"""The HTTP control API, driven over real HTTP as the chaos runner or an operator would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from rgw.chaos.control import ControlServer
from rgw.chaos.endpoints import Endpoint
from rgw.procs import free_port

from .helpers import url


@pytest.fixture
async def control() -> AsyncIterator[ControlServer]:
    server = ControlServer(Endpoint("127.0.0.1", free_port()))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def store_proxy(control: ControlServer, backend: Endpoint, client: aiohttp.ClientSession) -> Endpoint:
    """A proxy named `store` created through the API; returns where it listens."""
    listen = Endpoint("127.0.0.1", free_port())
    status, body = await _call(client, control, "POST", "/proxies",
                               {"name": "store", "listen": str(listen), "upstream": str(backend)})
    assert status == 201, body
    return listen


async def _call(client: aiohttp.ClientSession, control: ControlServer, method: str, path: str,
                body: Any = None) -> tuple[int, Any]:
    async with client.request(method, control.url + path, json=body) as response:
        return response.status, (await response.json() if response.status != 204 else None)


async def _fetch(client: aiohttp.ClientSession, endpoint: Endpoint) -> str:
    async with client.get(url(endpoint)) as response:
        return await response.text()


async def test_create_forward_and_report_stats(
        control: ControlServer, store_proxy: Endpoint, client: aiohttp.ClientSession) -> None:
    assert await _fetch(client, store_proxy) == "ok"
    status, listing = await _call(client, control, "GET", "/proxies")
    assert status == 200
    [proxy] = listing["proxies"]
    assert proxy["name"] == "store"
    assert proxy["listen"] == str(store_proxy)
    assert proxy["enabled"] is True
    assert proxy["faults"] == []
    assert proxy["stats"]["accepted"] == 1
    assert proxy["stats"]["bytes_up"] > 0
    assert proxy["stats"]["bytes_down"] > 0


async def test_add_and_remove_a_fault(
        control: ControlServer, store_proxy: Endpoint, client: aiohttp.ClientSession) -> None:
    status, fault = await _call(client, control, "POST", "/proxies/store/faults", {"kind": "reset"})
    assert status == 201
    assert fault["name"] == "reset"
    with pytest.raises(aiohttp.ClientConnectionError):
        await _fetch(client, store_proxy)
    status, proxy = await _call(client, control, "GET", "/proxies/store")
    assert proxy["faults"][0]["applied"] >= 1
    assert proxy["stats"]["faults_applied"] >= 1
    status, _ = await _call(client, control, "DELETE", "/proxies/store/faults/reset")
    assert status == 204
    assert await _fetch(client, store_proxy) == "ok"


async def test_down_refuses_and_up_restores(
        control: ControlServer, store_proxy: Endpoint, client: aiohttp.ClientSession) -> None:
    status, proxy = await _call(client, control, "POST", "/proxies/store/down")
    assert status == 200
    assert proxy["enabled"] is False
    with pytest.raises(aiohttp.ClientConnectorError):
        await _fetch(client, store_proxy)
    status, proxy = await _call(client, control, "POST", "/proxies/store/up")
    assert proxy["enabled"] is True
    assert await _fetch(client, store_proxy) == "ok"


async def test_reset_clears_faults_and_brings_proxies_up(
        control: ControlServer, store_proxy: Endpoint, client: aiohttp.ClientSession) -> None:
    await _call(client, control, "POST", "/proxies/store/faults", {"kind": "latency", "latency_ms": 5})
    await _call(client, control, "POST", "/proxies/store/down")
    status, listing = await _call(client, control, "POST", "/reset")
    assert status == 200
    assert listing["proxies"][0]["faults"] == []
    assert listing["proxies"][0]["enabled"] is True
    assert await _fetch(client, store_proxy) == "ok"


async def test_delete_proxy_stops_it(
        control: ControlServer, store_proxy: Endpoint, client: aiohttp.ClientSession) -> None:
    status, _ = await _call(client, control, "DELETE", "/proxies/store")
    assert status == 204
    assert (await _call(client, control, "GET", "/proxies"))[1] == {"proxies": []}
    with pytest.raises(aiohttp.ClientConnectorError):
        await _fetch(client, store_proxy)


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "latency", "latency_ms": -1}, "latency_ms"),
    ({"kind": "latency"}, "latency_ms"),
    ({"kind": "nope"}, "kind"),
    ({"kind": "reset", "toxicity": 2}, "toxicity"),
    ({"kind": "reset", "direction": "sideways"}, "direction"),
    ({"kind": "bandwidth", "rate_kb_s": 10, "burst": 1}, "burst"),
    ([1, 2], "body"),
])
async def test_bad_fault_is_400_naming_the_field(
        control: ControlServer, store_proxy: Endpoint, client: aiohttp.ClientSession,
        body: Any, field: str) -> None:
    status, error = await _call(client, control, "POST", "/proxies/store/faults", body)
    assert status == 400
    assert error["error"].startswith(f"{field}:")


async def test_invalid_json_is_400(control: ControlServer, store_proxy: Endpoint,
                                   client: aiohttp.ClientSession) -> None:
    async with client.post(control.url + "/proxies/store/faults", data=b"{not json") as response:
        assert response.status == 400
        assert (await response.json())["error"].startswith("body:")


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "p", "listen": "10.0.0.1:7000", "upstream": "127.0.0.1:6333"}, "listen"),
    ({"name": "p", "listen": "0.0.0.0:7000", "upstream": "127.0.0.1:6333"}, "listen"),
    ({"name": "p", "listen": "127.0.0.1:0", "upstream": "203.0.113.5:6333"}, "upstream"),
    ({"name": "p", "listen": "127.0.0.1:0", "upstream": "db.example.com:6333"}, "upstream"),
    ({"name": "p", "listen": "127.0.0.1:0"}, "upstream"),
    ({"name": "p", "listen": "127.0.0.1", "upstream": "127.0.0.1:6333"}, "listen"),
    ({"name": "a b", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6333"}, "name"),
    ({"name": "p", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:6333", "enabled": True}, "enabled"),
])
async def test_bad_proxy_is_400_naming_the_field(
        control: ControlServer, client: aiohttp.ClientSession, body: dict[str, Any], field: str) -> None:
    status, error = await _call(client, control, "POST", "/proxies", body)
    assert status == 400
    assert error["error"].startswith(f"{field}:")
    assert control.proxies == {}


async def test_taken_names_are_409(control: ControlServer, store_proxy: Endpoint, backend: Endpoint,
                                   client: aiohttp.ClientSession) -> None:
    status, _ = await _call(client, control, "POST", "/proxies",
                            {"name": "store", "listen": "127.0.0.1:0", "upstream": str(backend)})
    assert status == 409
    status, _ = await _call(client, control, "POST", "/proxies",
                            {"name": "other", "listen": str(store_proxy), "upstream": str(backend)})
    assert status == 409
    await _call(client, control, "POST", "/proxies/store/faults", {"kind": "blackhole"})
    status, error = await _call(client, control, "POST", "/proxies/store/faults", {"kind": "blackhole"})
    assert status == 409
    assert error["error"].startswith("name:")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/proxies/nope"),
    ("DELETE", "/proxies/nope"),
    ("POST", "/proxies/nope/down"),
    ("POST", "/proxies/nope/up"),
    ("DELETE", "/proxies/store/faults/nope"),
])
async def test_unknown_names_are_404(control: ControlServer, store_proxy: Endpoint,
                                     client: aiohttp.ClientSession, method: str, path: str) -> None:
    status, error = await _call(client, control, method, path)
    assert status == 404
    assert "nope" in error["error"]


async def test_unknown_proxy_for_fault_is_404(control: ControlServer, client: aiohttp.ClientSession) -> None:
    status, _ = await _call(client, control, "POST", "/proxies/nope/faults", {"kind": "reset"})
    assert status == 404


def test_control_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match=r"^control:"):
        ControlServer("0.0.0.0:8474")
