"""The operator API under /gateway/admin/: forced modes, drains, restore marks, policies, replication, reindex.

Each handler reads its body into typed fields (a wrong one is a 400 naming it), makes one change,
logs it, and answers with what is now in force. A change the settings refuse is a 400 too; any
other failure is a bug, answered 500 and logged by the front door. The admin token is checked
before any of this (rgw.gateway.front).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rgw.auth.audit import audit
from rgw.fallbacks.lexical_rebuild import RebuildProgress
from rgw.http.server import Reply, Request
from rgw.qdrant.envelope import error, ok
from rgw.qdrant.errors import BadRequest, QdrantError
from rgw.qdrant.fields import Obj, boolean, parse_body, string, unsigned
from rgw.settings.config import ConfigError
from rgw.settings.operator import RefusedChange

if TYPE_CHECKING:
    from rgw.gateway.app import Gateway

log = logging.getLogger("rgw.admin")

Params = dict[str, str]


def caller_id(request: Request) -> str:
    """Which credential asked (set by the front door's guard): the admin token, a credential's id, a JWT subject."""
    caller = request.caller
    return str(getattr(caller, "id", "anonymous"))


def who(request: Request) -> str:
    """Who made a change, as settings record it and status shows it: the credential and where from."""
    return f"{caller_id(request)} from {request.peer or 'unknown'}"


def audited(request: Request, operation: str, collection: str | None, reply: Reply) -> Reply:
    """Every admin change leaves an audit line with its outcome."""
    audit(caller_id(request), operation, collection, reply.status, peer=request.peer)
    return reply


def body_of(request: Request) -> Obj:
    """An admin call's JSON body as an object ({} when there is none); FormatError when it is not one."""
    return Obj.of(parse_body(request.body or b""))


class AdminApi:
    """The operator's changes, each one route of the table in rgw.gateway.routes."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._operator = gateway.operator

    async def _change(self, request: Request, apply: Any, operation: str, collection: str | None = None) -> Reply:
        """Run one change; what the caller got wrong is a 400 naming it, nothing else is caught."""
        started = time.perf_counter()
        try:
            reply = ok(apply(body_of(request), who(request)), started)
        except QdrantError as exc:
            reply = error(exc.status, exc.message, started)
        except (RefusedChange, ConfigError) as exc:
            reply = error(400, f"Bad request: {exc}", started)
        return audited(request, operation, collection, reply)

    async def force_mode(self, request: Request, params: Params) -> Reply:
        collection = params["collection_name"]

        def apply(body: Obj, by: str) -> Any:
            self._operator.force(collection, body.req("source", string), by)
            return {"collection": collection, "forced": self._operator.forced(collection) or "auto"}

        return await self._change(request, apply, "force_mode", collection)

    async def drain(self, request: Request, params: Params) -> Reply:
        return await self._drained(request, params["region"], True)

    async def undrain(self, request: Request, params: Params) -> Reply:
        return await self._drained(request, params["region"], False)

    async def _drained(self, request: Request, region: str, drained: bool) -> Reply:
        def apply(body: Obj, by: str) -> Any:
            self._operator.drain(region, drained, by)
            return {"region": region, "drained": self._operator.drained(region)}

        return await self._change(request, apply, "drain" if drained else "undrain")

    async def restore_mark(self, request: Request, params: Params) -> Reply:
        collection = params["collection_name"]

        def apply(body: Obj, by: str) -> Any:
            region = body.req("region", string)
            expected = None if body.opt("clear", boolean, False) else body.req("expected", unsigned)
            self._operator.mark_restoring(collection, region, expected, by)
            return {"collection": collection, "restoring": {r: asdict(m) for r, m in
                                                            self._operator.restoring(collection).items()}}

        return await self._change(request, apply, "restore_mark", collection)

    async def set_policy(self, request: Request, params: Params) -> Reply:
        """Merge fields into the collection's runtime override ({"reset": true} drops it, as DELETE does)."""
        collection = params["collection_name"]

        def apply(body: Obj, by: str) -> Any:
            fields = None if body.opt("reset", boolean, False) else {k: v for k, v in body.data.items() if k != "reset"}
            return asdict(self._operator.override_policy(collection, fields, by))

        return await self._change(request, apply, "set_policy", collection)

    async def reset_policy(self, request: Request, params: Params) -> Reply:
        collection = params["collection_name"]

        def apply(body: Obj, by: str) -> Any:
            return asdict(self._operator.override_policy(collection, None, by))

        return await self._change(request, apply, "reset_policy", collection)

    async def replication(self, request: Request, params: Params) -> Reply:
        started = time.perf_counter()
        region, action = params["region"], params["action"]
        applier = self._gateway.replication.appliers.get(region)
        operation = f"replication_{action}"
        if applier is None:
            return audited(request, operation, None, error(404, f"Not found: no region named {region!r}", started))
        if action == "pause":
            applier.pause()
        elif action == "resume":
            applier.resume()
        else:
            return audited(request, operation, None, error(
                404, f"Not found: replication action {action!r} (use pause or resume)", started))
        log.warning("admin: replication to %s %sd by %s", region, action, who(request))
        return audited(request, operation, None,
                       ok({"region": region, "paused": applier.paused, "applied_lsn": applier.applied}, started))

    async def resolve_dead_letters(self, request: Request, params: Params) -> Reply:
        """Forget a region's dead letters for a collection up to an LSN: `rgw verify --repair` calls this once a
        clean re-check has shown the region holds the journal's version of every point."""
        started = time.perf_counter()
        region = params["region"]
        if region not in self._gateway.replication.appliers:
            return error(404, f"Not found: no region named {region!r}", started)
        try:
            body = body_of(request)
            collection, upto = body.req("collection", string), body.req("upto", unsigned)
        except QdrantError as exc:
            return error(exc.status, exc.message, started)
        replication = self._gateway.replication
        resolved = await replication.resolve_dead_letters(region, collection, upto)
        state = replication.appliers[region].state
        log.warning("admin: %d dead letter(s) of %s on %s up to lsn %d resolved by %s", resolved, collection, region,
                    upto, request.peer)
        return ok({"region": region, "collection": collection, "resolved": resolved, "diverged": state.diverged},
                  started)

    async def trim(self, request: Request, params: Params) -> Reply:
        started = time.perf_counter()
        try:
            below = body_of(request).req("below", unsigned)
        except QdrantError as exc:
            return audited(request, "journal_trim", None, error(exc.status, exc.message, started))
        replication = self._gateway.replication
        trimmed_below, removed = await replication.trim(below)
        log.warning("admin: journal trim below %d requested by %s", below, who(request))
        return audited(request, "journal_trim", None, ok(
            {"asked_below": below, "trimmed_below": trimmed_below, "removed": removed,
             "floor": replication.trim_floor(), **self._gateway.journal.stats()}, started))

    async def reindex(self, request: Request, params: Params) -> Reply:
        collection = params["collection_name"]
        gateway = self._gateway

        def apply(body: Obj, by: str) -> Any:
            region = body.req("from", string)
            applier = gateway.replication.appliers.get(region)
            if applier is None:
                raise BadRequest(f"Bad request: from: no region named {region!r}")
            running = gateway.reindex_jobs.get(collection)
            if isinstance(running, RebuildProgress) and not running.done:
                raise BadRequest(f"Bad request: a lexical reindex of {collection} is already running")
            gateway.start_reindex(collection, applier.client, applier.applied)
            log.warning("admin: lexical reindex of %s from %s started by %s", collection, region, by)
            return {"collection": collection, "from": region, "as_of_lsn": applier.applied}

        return await self._change(request, apply, "lexical_reindex", collection)
