"""REST handlers for points: writes, retrieval, scroll and count (searches are in query_api)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rgw.qdrant import writes as grammar
from rgw.qdrant.errors import BadRequest, FormatError, NotFound
from rgw.qdrant.fields import point_id
from rgw.store import render, translate
from rgw.store.api import Handler, api, apply, collection_of, json_body
from rgw.store.writes import engine_batch, engine_write


def write_endpoint(op: str) -> Handler:
    """A handler for the update endpoints that take one body and apply one operation."""
    parse = grammar.POINTS_WRITES[op]

    @api
    async def handler(request: web.Request) -> Any:
        collection = collection_of(request)
        write = engine_write(parse(await json_body(request), collection.spec, ""))
        return (await apply(request, collection, [write]))[0]

    return handler


@api
async def batch_update(request: web.Request) -> Any:
    collection = collection_of(request)
    operations = grammar.batch(await json_body(request), collection.spec)
    return await apply(request, collection, engine_batch(operations))


@api
async def retrieve(request: web.Request) -> Any:
    collection = collection_of(request)
    return render.records(collection.retrieve(translate.retrieve_request(await json_body(request),
                                                                         collection.spec)))


@api
async def get_point(request: web.Request) -> Any:
    collection, raw = collection_of(request), request.match_info["id"]
    try:
        pid = point_id(int(raw) if raw.isdigit() else raw, "id")
    except FormatError:
        raise BadRequest(f"Format error in path parameters: value {raw} is not a valid point ID, "
                         "valid values are either an unsigned integer or a UUID") from None
    found = collection.retrieve(translate.Retrieve([pid], with_payload=True, with_vector=True))
    if not found:
        raise NotFound(f"Point with id {pid} does not exists!")
    return render.record(found[0])


@api
async def scroll(request: web.Request) -> Any:
    collection = collection_of(request)
    points, next_offset = collection.scroll(translate.scroll_request(await json_body(request), collection.spec))
    return {"points": render.records(points), "next_page_offset": next_offset}


@api
async def count(request: web.Request) -> Any:
    return {"count": collection_of(request).count(translate.count_request(await json_body(request)))}


def add_routes(app: web.Application) -> None:
    points = "/collections/{name}/points"
    r = app.router
    r.add_put(points, write_endpoint("upsert"))
    r.add_post(points, retrieve)
    r.add_get(points + "/{id}", get_point)
    r.add_post(points + "/delete", write_endpoint("delete"))
    r.add_post(points + "/payload", write_endpoint("set_payload"))
    r.add_put(points + "/payload", write_endpoint("overwrite_payload"))
    r.add_post(points + "/payload/delete", write_endpoint("delete_payload"))
    r.add_post(points + "/payload/clear", write_endpoint("clear_payload"))
    r.add_put(points + "/vectors", write_endpoint("update_vectors"))
    r.add_post(points + "/vectors/delete", write_endpoint("delete_vectors"))
    r.add_post(points + "/batch", batch_update)
    r.add_post(points + "/scroll", scroll)
    r.add_post(points + "/count", count)

