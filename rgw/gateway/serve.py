"""The gateway process: start the parts, listen, stop gracefully on SIGINT/SIGTERM.

Shutting down: stop accepting, let requests in flight answer (up to `shutdown_timeout`), then
close the parts (appliers save their cursors, the journal closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvloop

from rgw.compiled import compiled_modules, stale_modules
from rgw.gateway.app import Gateway
from rgw.gateway.front import Front
from rgw.gateway.routes import route_table
from rgw.http.server import HttpServer
from rgw.settings.config import GatewayConfig

log = logging.getLogger("rgw.gateway")


async def serve(config: GatewayConfig, shutdown_timeout: float = 5.0, stop: asyncio.Event | None = None) -> None:
    """Run the gateway until `stop` is set (by SIGINT/SIGTERM when not given)."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    gateway = Gateway(config)
    await gateway.start()
    front = HttpServer(Front(route_table(gateway), gateway.admin_token), config.limits)
    try:
        server = await loop.create_server(front, config.host, config.port, backlog=1024)
    except BaseException:
        await gateway.close()
        raise
    regions = ", ".join(f"{r.name}={r.url}" for r in config.regions)
    log.info("gateway listening on http://%s, regions: %s", config.listen, regions)
    compiled = compiled_modules()
    log.info("read path: %s", f"compiled ({len(compiled)} modules)" if compiled else "pure Python (not compiled)")
    if stale := stale_modules():
        log.warning("compiled modules older than their sources, running the old code: %s (run make setup)",
                    ", ".join(stale))
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        server.close()
        await front.shutdown(shutdown_timeout)
        with contextlib.suppress(Exception):
            await server.wait_closed()
        await gateway.close()


def run_gateway(config: GatewayConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    uvloop.run(serve(config))
