"""REST handlers for searches: the Query API (`points/query`, `/batch`, `/groups`), the legacy
search / recommend / discover endpoints and their batch and group forms, the distance matrix
and facets. Every form is read into a Query API request (rgw.qdrant.query, rgw.qdrant.legacy)
and run the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from rgw.qdrant import legacy
from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.query import GroupsRequest, QueryRequest, groups_request, matrix_request, query_batch, query_request
from rgw.store import render, translate
from rgw.store.api import Handler, api, collection_of, json_body, store_of
from rgw.store.groups import query_groups
from rgw.store.matrix import distance_matrix
from rgw.store.queries import Planner
from rgw.store.run import run_queries


async def _planned(request: web.Request) -> tuple[Planner, Any]:
    collection = collection_of(request)
    return Planner(collection, store_of(request).registry.get), await json_body(request)


def query_endpoint(parse: Callable[[Any, CollectionSpec], QueryRequest], points: bool) -> Handler:
    """One query; answered as `{"points": [...]}` (Query API) or as the bare list (legacy)."""

    @api
    async def handler(request: web.Request) -> Any:
        planner, body = await _planned(request)
        [found] = run_queries(planner, [parse(body, planner.collection.spec)])
        rendered = render.scored_points(found)
        return {"points": rendered} if points else rendered

    return handler


def batch_endpoint(parse: Callable[[Any, CollectionSpec], list[QueryRequest]], points: bool) -> Handler:
    @api
    async def handler(request: web.Request) -> Any:
        planner, body = await _planned(request)
        results = [render.scored_points(found) for found in run_queries(planner, parse(body, planner.collection.spec))]
        return [{"points": found} for found in results] if points else results

    return handler


def groups_endpoint(parse: Callable[[Any, CollectionSpec], GroupsRequest]) -> Handler:
    @api
    async def handler(request: web.Request) -> Any:
        planner, body = await _planned(request)
        return query_groups(planner, parse(body, planner.collection.spec), store_of(request).registry.get)

    return handler


def matrix_endpoint(shape: Callable[[list[Any], list[list[Any]]], dict[str, Any]]) -> Handler:
    @api
    async def handler(request: web.Request) -> Any:
        collection = collection_of(request)
        return shape(*distance_matrix(collection, matrix_request(await json_body(request), collection.spec)))

    return handler


@api
async def facet(request: web.Request) -> Any:
    collection = collection_of(request)
    return render.facet_hits(collection.facet(translate.facet_request(await json_body(request))))


def _one_body(read: legacy.Reader) -> Callable[[Any, CollectionSpec], QueryRequest]:
    """A reader of one request body, as the top-level body (no path prefix in its errors)."""
    return lambda body, spec: read(body, spec, "")


def add_routes(app: web.Application) -> None:
    points = "/collections/{name}/points"
    r = app.router
    r.add_post(points + "/query", query_endpoint(_one_body(query_request), points=True))
    r.add_post(points + "/query/batch", batch_endpoint(query_batch, points=True))
    r.add_post(points + "/query/groups", groups_endpoint(groups_request))
    r.add_post(points + "/search", query_endpoint(_one_body(legacy.search), points=False))
    r.add_post(points + "/search/batch", batch_endpoint(legacy.batch(legacy.search), points=False))
    r.add_post(points + "/search/groups", groups_endpoint(legacy.search_groups))
    r.add_post(points + "/recommend", query_endpoint(_one_body(legacy.recommend), points=False))
    r.add_post(points + "/recommend/batch", batch_endpoint(legacy.batch(legacy.recommend), points=False))
    r.add_post(points + "/recommend/groups", groups_endpoint(legacy.recommend_groups))
    r.add_post(points + "/discover", query_endpoint(_one_body(legacy.discover), points=False))
    r.add_post(points + "/discover/batch", batch_endpoint(legacy.batch(legacy.discover), points=False))
    r.add_post(points + "/search/matrix/pairs", matrix_endpoint(render.matrix_pairs))
    r.add_post(points + "/search/matrix/offsets", matrix_endpoint(render.matrix_offsets))
    r.add_post("/collections/{name}/facet", facet)
