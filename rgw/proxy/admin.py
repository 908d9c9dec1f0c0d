"""The operator API under /gateway/admin/: authenticated by a bearer token, off unless one is set.

Every change is logged with what changed; missing or wrong credentials get 401 and change
nothing.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from rgw import envelope

if TYPE_CHECKING:
    from rgw.proxy.server import Gateway

log = logging.getLogger("rgw.admin")

TOKEN_ENV = "RGW_ADMIN_TOKEN"
Handler = Callable[[web.Request], Awaitable[web.Response]]


def admin_token(configured: str | None) -> str | None:
    """The environment wins over the file, so a token need not be written to disk."""
    return os.environ.get(TOKEN_ENV) or configured or None


def authenticated(token: str | None, handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.Response:
        started = time.perf_counter()
        if token is None:
            return envelope.error(403, f"Forbidden: the admin API is disabled; set {TOKEN_ENV} or "
                                       "gateway.admin_token to enable it", started)
        offered = request.headers.get("Authorization", "")
        scheme, _, credential = offered.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.encode(), token.encode()):
            log.warning("admin: refused %s %s from %s: %s", request.method, request.path, request.remote,
                        "no credentials" if not offered else "wrong token")
            return envelope.error(401, "Unauthorized: admin API needs 'Authorization: Bearer <token>'", started)
        return await handler(request)

    return guarded


def add_admin_routes(app: web.Application, gateway: Gateway, token: str | None) -> None:
    async def replication(request: web.Request) -> web.Response:
        started = time.perf_counter()
        region, action = request.match_info["region"], request.match_info["action"]
        applier = gateway.replication.appliers.get(region)
        if applier is None:
            return envelope.error(404, f"Not found: no region named {region!r}", started)
        if action == "pause":
            applier.pause()
        elif action == "resume":
            applier.resume()
        else:
            return envelope.error(404, f"Not found: replication action {action!r} (use pause or resume)", started)
        log.warning("admin: replication to %s %sd by %s", region, action, request.remote)
        return envelope.ok({"region": region, "paused": applier.paused, "applied_lsn": applier.applied}, started)

    async def trim(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            below = int((await request.json())["below"])
        except (ValueError, KeyError, TypeError):
            return envelope.error(400, 'Bad request: expected {"below": <lsn>}', started)
        trimmed_below, removed = await gateway.replication.trim(below)
        log.warning("admin: journal trim below %d requested by %s", below, request.remote)
        return envelope.ok({"asked_below": below, "trimmed_below": trimmed_below, "removed": removed,
                            "floor": gateway.replication.trim_floor(), **gateway.journal.stats()}, started)

    app.router.add_post("/gateway/admin/regions/{region}/replication/{action}", authenticated(token, replication))
    app.router.add_post("/gateway/admin/journal/trim", authenticated(token, trim))
