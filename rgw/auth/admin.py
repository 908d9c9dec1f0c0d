"""The operator API's credential: a bearer token from the environment or the config, compared in constant time."""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from rgw import envelope

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


async def json_object(request: web.Request) -> dict[str, Any]:
    """An admin call's JSON body ({} when there is none); ValueError when it is not a JSON object."""
    body = await request.json() if request.body_exists else {}
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    return body
