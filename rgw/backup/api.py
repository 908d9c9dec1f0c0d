"""Admin API for backups, restores, rebuilds and drills (under /gateway/admin/, bearer-token guarded).

Starting a job answers 202 with the job; `GET /gateway/admin/jobs/{id}` follows it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from rgw import envelope
from rgw.auth.admin import authenticated, json_object
from rgw.backup.bundle import BundleError, verify_bundle
from rgw.backup.jobs import Job, JobConflict
from rgw.backup.parts import JobFailed
from rgw.backup.service import BackupService

Action = Callable[[dict[str, Any]], Awaitable[Any]]


def _text(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key}: required")
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _rate(body: dict[str, Any]) -> float | None:
    rate = body.get("max_rate")
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        raise ValueError(f"max_rate: expected a positive number of entries per second, got {rate!r}")
    return float(rate)


def add_backup_routes(app: web.Application, service: BackupService, token: str | None) -> None:
    async def handle(request: web.Request, action: Action) -> web.Response:
        started = time.perf_counter()
        try:
            result = await action(await json_object(request))
        except (ValueError, TypeError) as exc:
            return envelope.error(400, f"Bad request: {exc}", started)
        except JobConflict as exc:
            return envelope.error(409, f"Conflict: {exc}", started)
        except (JobFailed, BundleError) as exc:
            return envelope.error(422, f"Cannot do that: {exc}", started)
        if isinstance(result, Job):
            return envelope.ok(result.as_dict(), started, status=202)
        return envelope.ok(result, started)

    async def create(request: web.Request) -> web.Response:
        async def action(body: dict[str, Any]) -> Any:
            return service.backup(str(_text(body, "collection")), _text(body, "region", False))
        return await handle(request, action)

    async def listing(request: web.Request) -> web.Response:
        async def action(_: dict[str, Any]) -> Any:
            collection = request.query.get("collection") or None
            return [b.summary() for b in service.parts.bundles.list(collection)]
        return await handle(request, action)

    async def verify(request: web.Request) -> web.Response:
        async def action(_: dict[str, Any]) -> Any:
            return verify_bundle(service.parts.bundles.find(request.match_info["bundle"]).path).as_dict()
        return await handle(request, action)

    async def restore(request: web.Request) -> web.Response:
        async def action(body: dict[str, Any]) -> Any:
            collection, region = str(_text(body, "collection")), str(_text(body, "to"))
            target = _text(body, "as", False)
            if body.get("resume"):
                return service.resume(target or collection, region)
            if body.get("rollback"):
                return await service.rollback(target or collection, region)
            return await service.restore(collection, region, _text(body, "bundle", False), target, _rate(body))
        return await handle(request, action)

    async def rebuild(request: web.Request) -> web.Response:
        async def action(body: dict[str, Any]) -> Any:
            return await service.rebuild(str(_text(body, "collection")), str(_text(body, "to")), _rate(body))
        return await handle(request, action)

    async def drill(request: web.Request) -> web.Response:
        async def action(body: dict[str, Any]) -> Any:
            return service.drill(str(_text(body, "collection")), _text(body, "region", False),
                                 _text(body, "bundle", False), bool(body.get("keep")))
        return await handle(request, action)

    async def job(request: web.Request) -> web.Response:
        started = time.perf_counter()
        found = service.parts.jobs.get(request.match_info["job"])
        if found is None:
            return envelope.error(404, f"Not found: no job {request.match_info['job']!r}", started)
        return envelope.ok(found.as_dict(), started)

    guard = authenticated
    app.router.add_post("/gateway/admin/backups", guard(token, create))
    app.router.add_get("/gateway/admin/backups", guard(token, listing))
    app.router.add_post("/gateway/admin/backups/{bundle}/verify", guard(token, verify))
    app.router.add_post("/gateway/admin/restores", guard(token, restore))
    app.router.add_post("/gateway/admin/rebuilds", guard(token, rebuild))
    app.router.add_post("/gateway/admin/drills", guard(token, drill))
    app.router.add_get("/gateway/admin/jobs/{job}", guard(token, job))
