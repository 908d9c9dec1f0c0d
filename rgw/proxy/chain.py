"""Serving a read along its collection's policy chain: regions, partial, cache, lexical.

The chain is an ordered list of allowed sources; a source not in it is never used. Adjacent
region names form one group that the region router serves with retries and hedging. Every
answer says which source gave it, in which mode, over what coverage and how stale; when no
allowed source can answer, the 503 names each one tried and why.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

import orjson

from rgw.fallbacks.cache import Key, ResultCache, request_key
from rgw.fallbacks.lexical import LexicalDeclined
from rgw.fallbacks.lexical_source import LexicalSource
from rgw.http.client import Response
from rgw.qdrant.envelope import ok_body
from rgw.regions.attempts import Attempt, Mode, NoSourceAvailable, skipped
from rgw.regions.health import HealthBook
from rgw.regions.routing import Answer, Ended, ReadRouter
from rgw.settings.config import FALLBACKS, Fallback, Policy
from rgw.settings.operator import Operator

JSON = "application/json"
LEXICAL_OPERATIONS = frozenset({"query_points", "search_points"})  # what a BM25 answer can stand in for


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class ReadRequest:
    operation: str  # Qdrant's operation id, e.g. "query_points"
    method: str
    path: str  # the path and query string sent to regions, every segment percent-encoded
    body: bytes | None
    collection: str | None
    min_lsn: int
    text: str | None  # query text, for the lexical source
    vectorless: bool  # a text-only search: no vector store can answer it

    def __init__(self, operation: str, method: str, path: str, body: bytes | None, collection: str | None,
                 min_lsn: int = 0, text: str | None = None, vectorless: bool = False) -> None:
        self.operation, self.method, self.path, self.body, self.collection = operation, method, path, body, collection
        self.min_lsn, self.text, self.vectorless = min_lsn, text, vectorless


Segment = Fallback | tuple[str, ...]  # a degraded source, or adjacent regions served as one group


def _segments(chain: tuple[str, ...]) -> tuple[Segment, ...]:
    """("primary", "secondary", "cache") -> [("primary", "secondary"), Fallback.CACHE]."""
    out: list[Segment] = []
    for source in chain:
        if source in FALLBACKS:
            out.append(Fallback(source))
        elif out and isinstance(out[-1], tuple):
            out[-1] = (*out[-1], source)
        else:
            out.append((source,))
    return tuple(out)


def _preferred(chain: tuple[str, ...]) -> str | None:
    """The first region of a chain: its answer is mode normal."""
    return next((s for s in chain if s not in FALLBACKS), None)


def _after(earlier: list[Attempt], answer: Answer) -> Answer:
    """`answer` with the attempts that failed before it first; the same object when none did."""
    if not earlier:
        return answer
    return Answer(answer.source, answer.reply, answer.mode, (*earlier, *answer.attempts), answer.headers,
                  answer.staleness_s, answer.coverage)


@dataclass(frozen=True, slots=True)
class _Route:
    """A collection's sources as its policy and the operator's settings make them.

    Kept per collection until the operator changes something (Operator.generation): reads do not
    re-derive the same chain from the same settings every time.
    """

    generation: int
    policy: Policy
    segments: tuple[Segment, ...]
    preferred: str | None  # the policy's first region: its answer is mode normal
    forced: str | None  # the source an operator forced, if any
    caches: bool  # the chain (or the forced mode) holds the cache


MAX_ROUTES = 1024  # collections whose route is kept; clients may name any number of collections


@dataclass(init=False, slots=True)  # __init__ written out, so it runs compiled (compiled-modules.txt)
class _Way:
    """How one read goes along its collection's chain."""

    route: _Route
    cache_key: Key | None  # set when the route holds the cache and this is a point read

    def __init__(self, route: _Route, cache_key: Key | None) -> None:
        self.route, self.cache_key = route, cache_key


class ChainRouter:
    def __init__(self, regions: ReadRouter, operator: Operator, cache: ResultCache, book: HealthBook,
                 lexical: LexicalSource | None = None) -> None:
        self._continuing: set[asyncio.Task[None]] = set()
        self._regions = regions
        self._operator = operator
        self._cache = cache
        self._book = book
        self._lexical = lexical
        self._routes: dict[str, _Route] = {}

    async def read(self, request: ReadRequest) -> Answer:
        collection = request.collection
        if collection is None:  # what collections or aliases exist: any region will do
            return await self._regions.read(request.method, request.path, request.body, None, request.min_lsn)
        return await self._follow(request, self._way(request, collection), 0, [])

    def read_now(self, request: ReadRequest, done: Ended) -> bool:
        """Start a read whose first sources are regions that can take it at once, with no task of its own.

        `done(answer, error)` is called once, later. False: nothing was started, `read` serves it
        (a forced mode, a refused or lagging region, a chain that starts elsewhere: rare paths).
        """
        collection = request.collection
        if collection is None or request.vectorless:
            return False
        way = self._way(request, collection)
        route = way.route
        first = route.segments[0]
        if route.forced or not isinstance(first, tuple) or self._refused(route, collection, first):
            return False
        race = self._regions.begin(request.method, request.path, request.body, collection, request.min_lsn,
                                   first, route.preferred)
        if race is None:
            return False
        race.start(functools.partial(self._first_ended, request, way, done))
        return True

    def _first_ended(self, request: ReadRequest, way: _Way, done: Ended, answer: Answer | None,
                     error: Exception | None) -> None:
        if answer is not None:
            self._answered(way, answer)
            done(answer, None)
        elif isinstance(error, NoSourceAvailable) and len(way.route.segments) > 1:
            task = asyncio.get_running_loop().create_task(self._rest(request, way, error.attempts, done))
            self._continuing.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(self._continuing.discard)
        else:
            done(None, error)

    async def _rest(self, request: ReadRequest, way: _Way, attempts: list[Attempt], done: Ended) -> None:
        """The chain after its first regions failed a read that `read_now` started."""
        try:
            answer = await self._follow(request, way, 1, attempts)
        except Exception as exc:
            done(None, exc)
        else:
            done(answer, None)

    def _way(self, request: ReadRequest, collection: str) -> _Way:
        route = self._routes.get(collection)
        if route is None or route.generation != self._operator.generation:
            route = self._route(collection)
        cache_key = None
        if route.caches and "/points" in request.path:
            cache_key = request_key(collection, request.method, request.path, request.body)
        return _Way(route, cache_key)

    def _route(self, collection: str) -> _Route:
        operator = self._operator
        forced = operator.forced(collection)
        policy_chain = operator.chain(collection)
        chain = (forced,) if forced else policy_chain
        # "normal" means the policy's preferred region answered; a forced region is a deviation.
        route = _Route(operator.generation, operator.policy(collection), _segments(chain), _preferred(policy_chain),
                       forced, Fallback.CACHE in chain)
        if len(self._routes) >= MAX_ROUTES:
            self._routes.clear()
        self._routes[collection] = route
        return route

    def _answered(self, way: _Way, answer: Answer) -> None:
        """A region answered: keep a successful answer for the cache source."""
        if way.cache_key is not None and answer.reply.status == 200:
            self._cache.store(way.cache_key, way.cache_key[0], answer.reply.body, answer.reply.content_type,
                              answer.coverage, answer.source)

    async def _follow(self, request: ReadRequest, way: _Way, start: int, attempts: list[Attempt]) -> Answer:
        """Try the way's sources from segment `start` on, after `attempts` failed before it."""
        collection = request.collection or ""
        route = way.route
        asked_a_region = any(isinstance(segment, tuple) for segment in route.segments[:start])
        for segment in route.segments[start:]:
            try:
                if isinstance(segment, tuple):
                    asked_a_region = True
                    answer = await self._from_regions(request, route, segment)
                    self._answered(way, answer)
                elif segment is Fallback.PARTIAL:
                    answer = await self._from_partial(request)
                elif segment is Fallback.CACHE:
                    answer = self._from_cache(collection, way.cache_key, fresh_only=not asked_a_region)
                else:
                    answer = await self._from_lexical(request)
            except NoSourceAvailable as exc:
                attempts.extend(exc.attempts)
                continue
            return _after(attempts, answer)
        if route.forced:
            attempts.append(skipped("mode", f"{collection} is forced to {route.forced} by an operator"))
        raise NoSourceAvailable(attempts)

    def _refused(self, route: _Route, collection: str, regions: tuple[str, ...]) -> list[Attempt]:
        """The regions of a segment that must not serve this collection now, and why."""
        restoring = self._operator.restoring(collection)
        max_staleness = route.policy.max_staleness_s
        refused: list[Attempt] = []
        for region in regions:
            if self._operator.drained(region):
                refused.append(skipped(region, "drained"))
            elif region in restoring:
                refused.append(skipped(region, "restoring"))
            elif (lag := self._regions.staleness_s(region)) > max_staleness:
                refused.append(skipped(region, f"{lag:.1f}s behind the journal (max_staleness_s {max_staleness})"))
        return refused

    async def _from_regions(self, request: ReadRequest, route: _Route, regions: tuple[str, ...]) -> Answer:
        if request.vectorless:
            raise NoSourceAvailable([skipped(r, "no vector in the search: regions need one") for r in regions])
        refused = self._refused(route, request.collection or "", regions)
        allowed = regions if not refused else tuple(r for r in regions if r not in {a.source for a in refused})
        if not allowed:
            raise NoSourceAvailable(refused)
        answer = await self._regions.read(request.method, request.path, request.body, request.collection,
                                          request.min_lsn, allowed=allowed, preferred=route.preferred)
        return _after(refused, answer)

    async def _from_partial(self, request: ReadRequest) -> Answer:
        if request.vectorless:
            raise NoSourceAvailable([skipped("partial", "no vector in the search: regions need one")])
        collection = request.collection or ""
        self._book.watch(collection)  # so the checker counts the restoring copy even if no region read it yet
        policy = self._operator.policy(collection)
        attempts: list[Attempt] = []
        candidates: list[tuple[float, str]] = []
        for region, mark in self._operator.restoring(collection).items():
            label = f"partial:{region}"
            state = self._book.regions[region].collections.get(collection)
            if self._operator.drained(region):
                attempts.append(skipped(label, "drained"))
            elif state is None or state.points_count is None:
                attempts.append(skipped(label, "restored point count not known yet"))
            else:
                coverage = min(1.0, state.points_count / mark.expected_points) if mark.expected_points else 1.0
                if coverage >= policy.min_coverage:
                    candidates.append((coverage, region))
                else:
                    attempts.append(skipped(label, f"coverage {coverage:.3f} below min_coverage {policy.min_coverage}"))
        if not candidates and not attempts:
            attempts.append(skipped("partial", "no region is restoring this collection"))
        for coverage, region in sorted(candidates, reverse=True):
            try:
                answer = await self._regions.read(request.method, request.path, request.body, collection,
                                                  allowed=(region,), preferred=region, wait_fresh=False)
            except NoSourceAvailable as exc:
                attempts.extend(Attempt(f"partial:{a.source}", a.outcome, a.detail) for a in exc.attempts)
                continue
            return Answer(f"partial:{region}", answer.reply, Mode.PARTIAL, (*attempts, *answer.attempts),
                          staleness_s=answer.staleness_s, coverage=coverage)
        raise NoSourceAvailable(attempts)

    def _from_cache(self, collection: str, key: Key | None, fresh_only: bool) -> Answer:
        if key is None:
            raise NoSourceAvailable([skipped("cache", "only point reads are cached")])
        policy = self._operator.policy(collection)
        if fresh_only:
            entry = self._cache.fresh(key, collection, policy.cache_ttl_s) if policy.cache_ttl_s > 0 else None
            why = "no fresh entry (cache_ttl_s)"
        else:
            entry = self._cache.stale_if_error(key, policy.cache_ttl_s, policy.stale_if_error_s)
            why = f"no entry within cache_ttl_s + stale_if_error_s ({policy.cache_ttl_s + policy.stale_if_error_s}s)"
        if entry is None:
            raise NoSourceAvailable([skipped("cache", why)])
        age = entry.age(self._cache.clock())
        return Answer("cache", Response(200, entry.content_type, entry.body), Mode.CACHE, (), staleness_s=age,
                      coverage=entry.coverage)

    async def _from_lexical(self, request: ReadRequest) -> Answer:
        if self._lexical is None:
            raise NoSourceAvailable([skipped("lexical", "no lexical index configured")])
        if not request.text:
            raise NoSourceAvailable([skipped("lexical", "no query text (send X-Gateway-Query-Text, or use "
                                                        "/gateway/collections/{name}/search)")])
        if request.operation not in LEXICAL_OPERATIONS:
            raise NoSourceAvailable([skipped("lexical", f"answers query_points and search_points, "
                                                        f"not {request.operation}")])
        try:
            query = orjson.loads(request.body) if request.body else {}
            if not isinstance(query, dict):
                raise LexicalDeclined("the request body is not a JSON object")
            answer = await self._lexical.search(request.collection or "", request.text, query)
        except (LexicalDeclined, orjson.JSONDecodeError) as exc:
            raise NoSourceAvailable([skipped("lexical", f"declined: {exc}")]) from exc
        result: Any = {"points": answer.points} if request.operation == "query_points" else answer.points
        return Answer("lexical", Response(200, JSON, ok_body(result, 0.0)), Mode.LEXICAL, (),
                      staleness_s=answer.staleness_s, coverage=answer.coverage)
