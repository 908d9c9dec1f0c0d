"""Running the gateway's aiohttp app with rgw.http.server in front of it on the listening socket.

aiohttp's runner still owns the app's life (startup, signals, graceful shutdown, cleanup) and
every connection h1server hands over; h1server answers the plain requests of the API kept on
the app under api.API_KEY. RGW_FRONT=aiohttp serves everything with aiohttp alone (the way to
compare the two, or to rule the front door out when chasing a problem).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable

from aiohttp import web

from rgw.http.server import KEEPALIVE_TIMEOUT_S, H1Server
from rgw.proxy.api import API_KEY, GatewayApi

log = logging.getLogger("rgw.serve")

# Paths GatewayApi answers: another route registered on one of these would be shadowed by h1server.
API_PREFIXES = ("/collections", "/aliases", "/gateway/collections/")
API_PATHS = frozenset({"/", "/healthz", "/livez", "/readyz"})


class GatewaySite(web.BaseSite):
    """A TCP site whose connections start on h1server and move to aiohttp's protocol when handed over."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, api: GatewayApi, shutdown_timeout: float,
                 backlog: int = 128) -> None:
        super().__init__(runner, backlog=backlog)
        assert runner.server is not None  # set up before sites are made
        self._host = host
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self.front = H1Server(api, runner.server)

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self.front, self._host, self._port, backlog=self._backlog)

    async def stop(self) -> None:
        await super().stop()  # no new connections
        await self.front.shutdown(self._shutdown_timeout)  # before the app's cleanup closes what requests use


def shadowing_routes(app: web.Application, own: set[str]) -> list[str]:
    """Routes, other than the API's own, that h1server would answer in their place."""
    found = []
    for resource in app.router.resources():
        path = resource.canonical
        if path in own:
            continue
        if path in API_PATHS or path.startswith(API_PREFIXES) or path.startswith("/{"):
            found.append(path)
    return found


async def serve(app: Awaitable[web.Application], host: str, port: int, shutdown_timeout: float) -> None:
    application = await app
    runner = web.AppRunner(application, handle_signals=True, access_log=None, shutdown_timeout=shutdown_timeout,
                           keepalive_timeout=KEEPALIVE_TIMEOUT_S)
    await runner.setup()
    try:
        api = application.get(API_KEY)
        site: web.BaseSite
        if api is None or os.environ.get("RGW_FRONT") == "aiohttp":
            site = web.TCPSite(runner, host, port)
        elif shadowed := shadowing_routes(application, {"/", "/healthz", "/livez", "/readyz",
                                                         "/gateway/collections/{collection}/search",
                                                         "/{tail}"}):
            log.warning("routes %s overlap the gateway API: serving everything with aiohttp", ", ".join(shadowed))
            site = web.TCPSite(runner, host, port)
        else:
            site = GatewaySite(runner, host, port, api, shutdown_timeout)
        await site.start()
        while True:
            await asyncio.sleep(3600)
    finally:
        await runner.cleanup()


def run_app(app: Awaitable[web.Application], host: str, port: int, shutdown_timeout: float = 5.0) -> None:
    """Serve until SIGINT/SIGTERM, then shut down gracefully; aiohttp's web.run_app, with our site."""
    loop = asyncio.new_event_loop()
    main = loop.create_task(serve(app, host, port, shutdown_timeout))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        remaining = asyncio.all_tasks(loop)
        for task in remaining:
            task.cancel()
        if remaining:
            loop.run_until_complete(asyncio.gather(*remaining, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
