"""Dispatching the front door's requests along the one route table: match, check access, hand to the endpoint.

A path no route serves is a 404 (405 with `Allow` when other methods serve it); a collection
name is checked against Qdrant's rules here, where it enters, before any endpoint sees it. Then the
guard (rgw.auth.guard) decides who is asking and whether they may: a refusal is answered here, so no
refused request reaches the journal, a region or a degraded source (the cache, the lexical index).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rgw.auth.access import Access
from rgw.auth.audit import audit
from rgw.auth.errors import AuthError, RateLimited
from rgw.auth.guard import Guard
from rgw.auth.ratelimit import retry_after
from rgw.http.routes import BadPath, Match, NoMatch, Router
from rgw.http.server import Reply, Request
from rgw.proxy.api import QdrantRead
from rgw.qdrant.envelope import error
from rgw.qdrant.errors import QdrantError
from rgw.qdrant.names import check_collection_name

log = logging.getLogger("rgw.front")

Send = Callable[[Reply], None]
Params = dict[str, str]
Handler = Callable[[Request, Params], Awaitable[Reply]]
StartNow = Callable[[Request, Params, Send], bool]
NAME_PARAMS = ("collection_name",)  # parameters that name a collection (or alias)
MAX_REMEMBERED_MATCHES = 4096
MAX_REMEMBERED_PATH = 512  # longer paths are resolved every time: the memory stays small whatever clients send


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What serves a route: `handle` in a task of its own, or `start_now` without one (it may decline).

    A Qdrant read names its QdrantRead as `read`: called as a native method, its start costs ~1k
    instructions less than through a callable (measured with callgrind; BENCHMARKS.md).
    """

    handle: Handler
    access: Access
    start_now: StartNow | None = None
    read: QdrantRead | None = None


Resolved = Match[Endpoint] | Reply  # a route with its parameters, or the refusal to send


class Front:
    """rgw.http.server's Application for the gateway."""

    def __init__(self, router: Router[Endpoint], guard: Guard) -> None:
        self._router = router
        self._guard = guard
        self._resolved: dict[str, dict[str, Resolved]] = {}  # method -> path -> route

    def resolve(self, method: str, path: str) -> Resolved:
        """The route for `method path`, remembered (clients ask the same few paths over and over)."""
        by_path = self._resolved.get(method)
        if by_path is None:
            by_path = self._resolved[method] = {}
        known = by_path.get(path)
        if known is not None:
            return known
        resolved = self._resolve(method, path)
        if len(path) <= MAX_REMEMBERED_PATH:
            if sum(len(paths) for paths in self._resolved.values()) >= MAX_REMEMBERED_MATCHES:
                self._resolved.clear()
                by_path = self._resolved[method] = {}
            by_path[path] = resolved
        return resolved

    def _resolve(self, method: str, path: str) -> Resolved:
        try:
            match = self._router.match(method, path)
        except BadPath as exc:
            return error(400, f"Bad request: {exc}")
        if isinstance(match, NoMatch):
            if match.allowed:
                return error(405, f"Method not allowed: {method} {path[:200]} (allowed: {', '.join(match.allowed)})",
                             headers=(("Allow", ", ".join(match.allowed)),))
            return error(404, f"Not found: {method} {path[:200]} is not served by the gateway")
        for name in NAME_PARAMS:
            if name in match.params:
                try:
                    check_collection_name(match.params[name])
                except QdrantError as exc:
                    return error(exc.status, exc.message)
        return match

    def handle_now(self, request: Request, send: Send) -> bool:
        resolved = self.resolve(request.method, request.path)
        request.route = resolved
        if isinstance(resolved, Reply):
            send(resolved)
            return True
        endpoint = resolved.route.target
        try:
            request.caller = self._guard.admit(request.headers, endpoint.access, resolved.params.get("collection_name"))
        except AuthError as exc:
            send(self._refusal(request, resolved, exc))
            return True
        read = endpoint.read
        if read is not None:
            return read.start_now(request, resolved.params, send)
        start_now = endpoint.start_now
        if start_now is None:
            return False
        return start_now(request, resolved.params, send)

    def handle(self, request: Request) -> Awaitable[Reply]:
        match: Match[Endpoint] = request.route  # handle_now resolved it and declined to serve it at once
        return match.route.target.handle(request, match.params)

    def refused(self, status: int, message: str) -> Reply:
        return error(status, message)

    def _refusal(self, request: Request, match: Match[Endpoint], exc: AuthError) -> Reply:
        """A refused request's answer; refused writes and operator calls are audited, operator calls logged."""
        access = match.route.target.access
        if access in (Access.WRITE, Access.MANAGE, Access.ADMIN):
            audit(exc.by, match.route.name,
                  match.params.get("collection_name"), exc.status, peer=request.peer, detail=exc.message)
        if access is Access.ADMIN:
            log.warning("admin: refused %s %s from %s: %s", request.method, request.path, request.peer, exc.message)
        headers = (("Retry-After", retry_after(exc.retry_after_s)),) if isinstance(exc, RateLimited) else ()
        return error(exc.status, exc.message, headers=headers)
