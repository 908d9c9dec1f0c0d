"""The gateway process: start the parts, listen, stop gracefully on SIGINT/SIGTERM.

Shutting down: stop accepting, let requests in flight answer (up to `shutdown_timeout`), then
close the parts (appliers save their cursors, the journal closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import ssl

import uvloop

from rgw.auth.guard import Guard
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
    front = HttpServer(Front(route_table(gateway), Guard(config.auth, gateway.admin_token)), config.limits)
    try:
        server = await loop.create_server(front, config.host, config.port, backlog=1024, ssl=tls_context(config))
    except BaseException:
        await gateway.close()
        raise
    regions = ", ".join(f"{r.name}={r.url}" for r in config.regions)
    log.info("gateway listening on %s://%s, regions: %s", "https" if config.tls else "http", config.listen, regions)
    log.info("client authentication: %s", describe_auth(config))
    if config.auth is not None and config.auth.jwt_rbac and len((config.auth.api_key or "").encode()) < 32:
        log.warning("auth.api_key signs JWTs and is shorter than 32 bytes: use a longer random key (RFC 7518 3.2)")
    if config.auth is None and not loopback(config.host):
        log.warning("no [auth] section and listening on %s: anyone who reaches this address can read, write and "
                    "delete every collection; add [auth] with an api_key (see the README)", config.host)
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


def tls_context(config: GatewayConfig) -> ssl.SSLContext | None:
    """The listener's TLS (1.2 and later), when the config names a certificate and its key."""
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    return context


def loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def describe_auth(config: GatewayConfig) -> str:
    """What is in force, for the log: which credentials exist, never their values."""
    auth = config.auth
    if auth is None:
        return "off (no [auth] section)"
    present = [name for name in ("api_key", "alt_api_key", "read_only_api_key", "metrics_token")
               if getattr(auth, name) is not None]
    limits = "on" if auth.rate_limits.enabled else "off"
    return f"on ({', '.join(present)}; jwt_rbac {'on' if auth.jwt_rbac else 'off'}; rate limits {limits})"


def run_gateway(config: GatewayConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    uvloop.run(serve(config))
