"""Admin API for backups, restores, rebuilds and drills (routes in rgw.gateway.routes, behind the admin token).

Starting a job answers 202 with the job; `GET /gateway/admin/jobs/{id}` follows it. Bodies are
read into typed fields: a wrong one is a 400 naming it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from rgw.auth.audit import audit
from rgw.backup.bundle import BundleError, verify_bundle
from rgw.backup.jobs import Job, JobConflict
from rgw.backup.parts import JobFailed
from rgw.backup.service import BackupService
from rgw.http.server import Reply, Request
from rgw.qdrant.envelope import error, ok
from rgw.qdrant.errors import FormatError, QdrantError
from rgw.qdrant.fields import Obj, boolean, number, parse_body, string
from rgw.qdrant.names import check_collection_name

Params = dict[str, str]
Action = Callable[[Obj], Awaitable[Any]]


def _name(value: Any, path: str) -> str:
    text = string(value, path)
    if not text:
        raise FormatError(path, "expected a non-empty string")
    return text


def _collection(value: Any, path: str) -> str:
    """A collection name as Qdrant accepts it: it names paths on regions and folders on disk."""
    try:
        return check_collection_name(_name(value, path))
    except QdrantError as exc:
        raise FormatError(path, exc.message.removeprefix("Bad request: ")) from exc


def _rate(body: Obj) -> float | None:
    rate = body.opt("max_rate", number)
    if rate is not None and rate <= 0:
        raise FormatError("max_rate", f"expected a positive number of entries per second, got {rate}")
    return rate


class BackupApi:
    def __init__(self, service: BackupService) -> None:
        self._service = service

    async def _run(self, request: Request, action: Action, operation: str | None = None) -> Reply:
        """One call; with `operation`, a change, audited with its outcome (the collection named in the body, which
        needs no check of its own: the whole operator API takes the admin token or a global "m" credential)."""
        started = time.perf_counter()
        body: Obj | None = None
        try:
            body = Obj.of(parse_body(request.body or b""))
            result = await action(body)
        except QdrantError as exc:
            reply = error(exc.status, exc.message, started)
        except JobConflict as exc:
            reply = error(409, f"Conflict: {exc}", started)
        except (JobFailed, BundleError) as exc:
            reply = error(422, f"Cannot do that: {exc}", started)
        else:
            reply = ok(result.as_dict(), started, status=202) if isinstance(result, Job) else ok(result, started)
        if operation is not None:
            named = body.data.get("collection") if body is not None else None
            audit(str(getattr(request.caller, "id", "anonymous")), operation,
                  named if isinstance(named, str) else None, reply.status, peer=request.peer)
        return reply

    async def create(self, request: Request, params: Params) -> Reply:
        async def action(body: Obj) -> Any:
            return self._service.backup(body.req("collection", _collection), body.opt("region", _name))
        return await self._run(request, action, "backup")

    async def listing(self, request: Request, params: Params) -> Reply:
        collection = _query_value(request, "collection")

        async def action(_: Obj) -> Any:
            return [b.summary() for b in self._service.parts.bundles.list(collection)]
        return await self._run(request, action)

    async def verify(self, request: Request, params: Params) -> Reply:
        async def action(_: Obj) -> Any:
            return verify_bundle(self._service.parts.bundles.find(params["bundle"]).path).as_dict()
        return await self._run(request, action)

    async def restore(self, request: Request, params: Params) -> Reply:
        async def action(body: Obj) -> Any:
            collection, region = body.req("collection", _collection), body.req("to", _name)
            target = body.opt("as", _collection)
            if body.opt("resume", boolean, False):
                return self._service.resume(target or collection, region)
            if body.opt("rollback", boolean, False):
                return await self._service.rollback(target or collection, region)
            return await self._service.restore(collection, region, body.opt("bundle", _name), target, _rate(body))
        return await self._run(request, action, "restore")

    async def rebuild(self, request: Request, params: Params) -> Reply:
        async def action(body: Obj) -> Any:
            return await self._service.rebuild(body.req("collection", _collection), body.req("to", _name), _rate(body))
        return await self._run(request, action, "rebuild")

    async def drill(self, request: Request, params: Params) -> Reply:
        async def action(body: Obj) -> Any:
            return self._service.drill(body.req("collection", _collection), body.opt("region", _name),
                                       body.opt("bundle", _name), bool(body.opt("keep", boolean, False)))
        return await self._run(request, action, "drill")

    async def job(self, request: Request, params: Params) -> Reply:
        started = time.perf_counter()
        found = self._service.parts.jobs.get(params["job"])
        if found is None:
            return error(404, f"Not found: no job {params['job']!r}", started)
        return ok(found.as_dict(), started)


def _query_value(request: Request, key: str) -> str | None:
    values = parse_qs(request.target.partition("?")[2]).get(key)
    return values[0] if values else None
