"""The operator API under /gateway/admin/: authenticated by a bearer token, off unless one is set.

Every change is logged with what changed; missing or wrong credentials get 401 and change
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rgw import envelope
from rgw.auth.admin import authenticated, json_object
from rgw.fallbacks.lexical_rebuild import RebuildProgress
from rgw.settings.config import ConfigError

if TYPE_CHECKING:
    from rgw.gateway.app import Gateway

log = logging.getLogger("rgw.admin")

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

    operator = gateway.operator

    async def change(request: web.Request, apply: Callable[[dict[str, Any], str], Any]) -> web.Response:
        """Parse the JSON body, apply one operator change, answer with what is now in force."""
        started = time.perf_counter()
        try:
            result = apply(await json_object(request), request.remote or "unknown")
        except (ValueError, KeyError, TypeError, ConfigError) as exc:
            return envelope.error(400, f"Bad request: {exc}", started)
        return envelope.ok(result, started)

    async def mode(request: web.Request) -> web.Response:
        collection = request.match_info["collection"]

        def apply(body: dict[str, Any], by: str) -> Any:
            operator.force(collection, str(body["source"]), by)
            return {"collection": collection, "forced": operator.forced(collection) or "auto"}

        return await change(request, apply)

    async def drain(request: web.Request) -> web.Response:
        region, action = request.match_info["region"], request.match_info["action"]

        def apply(body: dict[str, Any], by: str) -> Any:
            operator.drain(region, action == "drain", by)
            return {"region": region, "drained": operator.drained(region)}

        return await change(request, apply)

    async def restore_mark(request: web.Request) -> web.Response:
        collection = request.match_info["collection"]

        def apply(body: dict[str, Any], by: str) -> Any:
            expected = None if body.get("clear") else int(body["expected"])
            operator.mark_restoring(collection, str(body["region"]), expected, by)
            return {"collection": collection, "restoring": {r: asdict(m) for r, m in
                                                            operator.restoring(collection).items()}}

        return await change(request, apply)

    async def policy(request: web.Request) -> web.Response:
        """PUT merges fields into the collection's runtime override ({"reset": true} drops it, as DELETE
        does); answers with the policy now in force."""
        collection = request.match_info["collection"]

        def apply(body: dict[str, Any], by: str) -> Any:
            fields = None if request.method == "DELETE" or body.get("reset") else body
            return asdict(operator.override_policy(collection, fields, by))

        return await change(request, apply)

    async def reindex(request: web.Request) -> web.Response:
        collection = request.match_info["collection"]

        def apply(body: dict[str, Any], by: str) -> Any:
            region = str(body["from"])
            applier = gateway.replication.appliers.get(region)
            if applier is None:
                raise ValueError(f"from: no region named {region!r}")
            running = gateway.reindex_jobs.get(collection)
            if isinstance(running, RebuildProgress) and not running.done:
                raise ValueError(f"a lexical reindex of {collection} is already running")
            gateway.start_reindex(collection, applier.client, applier.applied)
            log.warning("admin: lexical reindex of %s from %s started by %s", collection, region, by)
            return {"collection": collection, "from": region, "as_of_lsn": applier.applied}

        return await change(request, apply)

    app.router.add_post("/gateway/admin/regions/{region}/replication/{action}", authenticated(token, replication))
    app.router.add_post("/gateway/admin/lexical/{collection}/reindex", authenticated(token, reindex))
    app.router.add_post("/gateway/admin/journal/trim", authenticated(token, trim))
    app.router.add_post("/gateway/admin/collections/{collection}/mode", authenticated(token, mode))
    app.router.add_post("/gateway/admin/regions/{region}/{action:drain|undrain}", authenticated(token, drain))
    app.router.add_post("/gateway/admin/collections/{collection}/restore-mark", authenticated(token, restore_mark))
    app.router.add_put("/gateway/admin/policies/{collection}", authenticated(token, policy))
    app.router.add_delete("/gateway/admin/policies/{collection}", authenticated(token, policy))
