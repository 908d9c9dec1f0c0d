"""HTTP control API for fault proxies, shaped like Toxiproxy's: one server hosts several proxies.

    GET    /proxies                        every proxy, its faults and stats
    POST   /proxies                        {"name", "listen", "upstream"} -> 201
    GET    /proxies/{name}
    DELETE /proxies/{name}                 stop and forget it
    POST   /proxies/{name}/faults          {"kind": "latency", "latency_ms": 200, ...} -> 201
    DELETE /proxies/{name}/faults/{fault}
    POST   /proxies/{name}/down            refuse connections, cut open ones
    POST   /proxies/{name}/up              listen again on the same port
    POST   /reset                          every proxy up, every fault removed

Bad input is a 400 whose "error" names the field, unknown names are 404, taken names 409.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

from aiohttp import web

from rgw.chaos.endpoints import Endpoint
from rgw.chaos.faultproxy import FaultProxy, NameTaken
from rgw.chaos.faults import Fault, fault_from_dict, fault_to_dict

log = logging.getLogger(__name__)

_PROXY_FIELDS = ("name", "listen", "upstream")


def _error(exc_class: type[web.HTTPError], message: str) -> web.HTTPError:
    return exc_class(text=json.dumps({"error": message}), content_type="application/json")


def _cannot_listen(address: object, exc: OSError) -> web.HTTPError:
    return _error(web.HTTPConflict, f"listen: cannot listen on {address}: {exc.strerror or exc}")


def _fault_json(proxy: FaultProxy, fault: Fault) -> dict[str, Any]:
    return {**fault_to_dict(fault), "applied": proxy.applied(fault.name)}


def proxy_to_dict(proxy: FaultProxy) -> dict[str, Any]:
    return {
        "name": proxy.name,
        "listen": str(proxy.listen),
        "upstream": str(proxy.upstream),
        "enabled": proxy.enabled,
        "faults": [_fault_json(proxy, f) for f in proxy.faults],
        "stats": asdict(proxy.stats),
    }


class ControlServer:
    """Owns the hosted proxies and serves the control API on a loopback port."""

    def __init__(self, listen: Endpoint | str) -> None:
        self.listen = Endpoint.coerce(listen, "control")
        self.proxies: dict[str, FaultProxy] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    async def start(self) -> None:
        app = web.Application()
        app.add_routes([
            web.get("/proxies", self._list),
            web.post("/proxies", self._create),
            web.get("/proxies/{name}", self._show),
            web.delete("/proxies/{name}", self._delete),
            web.post("/proxies/{name}/faults", self._add_fault),
            web.delete("/proxies/{name}/faults/{fault}", self._remove_fault),
            web.post("/proxies/{name}/down", self._down),
            web.post("/proxies/{name}/up", self._up),
            web.post("/reset", self._reset),
        ])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.listen.host, self.listen.port)
        await site.start()
        if self.listen.port == 0:
            self.listen = Endpoint(self.listen.host, self._runner.addresses[0][1])
        log.info("fault proxy control API on %s", self.url)

    async def stop(self) -> None:
        for proxy in list(self.proxies.values()):  # a request may add or delete meanwhile
            await proxy.stop()
        self.proxies.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def add_proxy(self, name: str, listen: Endpoint | str, upstream: Endpoint | str) -> FaultProxy:
        """Create and start a proxy; OSError if its listen port cannot be bound."""
        proxy = FaultProxy(name, listen, upstream)
        if proxy.name in self.proxies:
            raise NameTaken(f"name: proxy {proxy.name!r} already exists")
        self.proxies[proxy.name] = proxy  # claimed before awaiting, so a concurrent create sees it
        try:
            await proxy.start()
        except OSError:
            del self.proxies[proxy.name]
            raise
        return proxy

    # -- handlers ---------------------------------------------------------------------------------

    def _proxy(self, request: web.Request) -> FaultProxy:
        name = request.match_info["name"]
        try:
            return self.proxies[name]
        except KeyError:
            raise _error(web.HTTPNotFound, f"no proxy named {name!r}") from None

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _error(web.HTTPBadRequest, "body: must be valid JSON") from None
        if not isinstance(body, dict):
            raise _error(web.HTTPBadRequest, "body: must be a JSON object")
        return body

    def _listing(self) -> web.Response:
        return web.json_response({"proxies": [proxy_to_dict(p) for p in self.proxies.values()]})

    async def _list(self, request: web.Request) -> web.Response:
        return self._listing()

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        for key in body:
            if key not in _PROXY_FIELDS:
                raise _error(web.HTTPBadRequest, f"{key}: unknown field (expected {', '.join(_PROXY_FIELDS)})")
        for key in _PROXY_FIELDS:
            if key not in body:
                raise _error(web.HTTPBadRequest, f"{key}: required")
        try:
            proxy = await self.add_proxy(body["name"], body["listen"], body["upstream"])
        except NameTaken as exc:
            raise _error(web.HTTPConflict, str(exc)) from None
        except ValueError as exc:
            raise _error(web.HTTPBadRequest, str(exc)) from None
        except OSError as exc:
            raise _cannot_listen(body["listen"], exc) from None
        return web.json_response(proxy_to_dict(proxy), status=201)

    async def _show(self, request: web.Request) -> web.Response:
        return web.json_response(proxy_to_dict(self._proxy(request)))

    async def _delete(self, request: web.Request) -> web.Response:
        proxy = self._proxy(request)
        del self.proxies[proxy.name]
        await proxy.stop()
        return web.Response(status=204)

    async def _add_fault(self, request: web.Request) -> web.Response:
        proxy = self._proxy(request)
        body = await self._body(request)
        try:
            fault = fault_from_dict(body)
            proxy.add(fault)
        except NameTaken as exc:
            raise _error(web.HTTPConflict, str(exc)) from None
        except ValueError as exc:
            raise _error(web.HTTPBadRequest, str(exc)) from None
        return web.json_response(_fault_json(proxy, fault), status=201)

    async def _remove_fault(self, request: web.Request) -> web.Response:
        proxy = self._proxy(request)
        name = request.match_info["fault"]
        try:
            proxy.remove(name)
        except KeyError:
            raise _error(web.HTTPNotFound, f"no fault named {name!r} on proxy {proxy.name!r}") from None
        return web.Response(status=204)

    async def _down(self, request: web.Request) -> web.Response:
        proxy = self._proxy(request)
        await proxy.stop()
        return web.json_response(proxy_to_dict(proxy))

    async def _up(self, request: web.Request) -> web.Response:
        proxy = self._proxy(request)
        await _restart(proxy)
        return web.json_response(proxy_to_dict(proxy))

    async def _reset(self, request: web.Request) -> web.Response:
        for proxy in list(self.proxies.values()):
            proxy.clear()
            await _restart(proxy)
        return self._listing()


async def _restart(proxy: FaultProxy) -> None:
    try:
        await proxy.start()
    except OSError as exc:  # someone else took the port while the proxy was down
        raise _cannot_listen(proxy.listen, exc) from None
