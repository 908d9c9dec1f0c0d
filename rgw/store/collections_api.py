"""REST handlers for collections, payload indexes, vector names and aliases."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rgw.qdrant.aliases import alias_changes
from rgw.qdrant.collection import CollectionSpec, vector_config
from rgw.qdrant.errors import BadRequest, FormatError
from rgw.qdrant.paths import payload_key
from rgw.qdrant.writes import create_index
from rgw.store import render, writes
from rgw.store.api import api, apply, collection_of, json_body, store_of
from rgw.store.collection import Collection


@api
async def list_collections(request: web.Request) -> Any:
    return {"collections": [{"name": name} for name in store_of(request).registry.names()]}


@api
async def get_collection(request: web.Request) -> Any:
    collection = collection_of(request)
    return render.collection_info(collection.stats(), collection.spec, collection.indexing)


@api
async def collection_exists(request: web.Request) -> Any:
    return {"exists": store_of(request).registry.exists(request.match_info["name"])}


@api
async def create_collection(request: web.Request) -> Any:
    store, name = store_of(request), request.match_info["name"]
    spec = CollectionSpec.parse(await json_body(request))
    await store.registry.create(name, spec)
    store.log.info("collection %s created", name)
    return True


@api
async def delete_collection(request: web.Request) -> Any:
    store, name = store_of(request), request.match_info["name"]
    if name in store.registry.names():  # by its own name only: as Qdrant, an alias deletes nothing
        store.builder.cancel(store.registry.get(name))
    deleted = await store.registry.delete(name)
    if deleted:
        store.log.info("collection %s deleted", name)
    return deleted


@api
async def create_field_index(request: web.Request) -> Any:
    collection = collection_of(request)
    write = writes.create_field_index(create_index(await json_body(request)))
    return (await apply(request, collection, [write]))[0]


@api
async def delete_field_index(request: web.Request) -> Any:
    collection, field_name = collection_of(request), request.match_info["field_name"]
    try:
        payload_key(field_name, "field_name")
    except FormatError:
        raise BadRequest(f"Format error in path parameters: invalid payload key {field_name}") from None
    return (await apply(request, collection, [writes.delete_field_index(field_name)]))[0]


@api
async def create_vector_name(request: web.Request) -> Any:
    collection, name = collection_of(request), request.match_info["vector_name"]
    spec = collection.spec.with_vector(name, vector_config(await json_body(request)))
    return await _change_vector(request, collection, name, spec)


@api
async def delete_vector_name(request: web.Request) -> Any:
    collection, name = collection_of(request), request.match_info["vector_name"]
    return await _change_vector(request, collection, name, collection.spec.without_vector(name))


async def _change_vector(request: web.Request, collection: Collection, name: str, spec: CollectionSpec) -> Any:
    op_id = await collection.change_vector(name, spec, writes.vector_write(name, spec))
    store_of(request).log.info("collection %s: vector %s %s", collection.name, name,
                               "added" if name in spec.dense or name in spec.sparse else "removed")
    return {"operation_id": op_id, "status": "completed"}


@api
async def update_aliases(request: web.Request) -> Any:
    store = store_of(request)
    actions = alias_changes(await json_body(request))
    await store.registry.change_aliases(actions)
    store.log.info("aliases changed: %s", actions)
    return True


@api
async def collection_aliases(request: web.Request) -> Any:
    collection = collection_of(request)  # 404 for a missing collection, as Qdrant
    return _aliases(store_of(request).registry.aliases(collection.name))


@api
async def all_aliases(request: web.Request) -> Any:
    return _aliases(store_of(request).registry.aliases())


def _aliases(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"aliases": [{"alias_name": alias, "collection_name": collection} for alias, collection in pairs]}


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/collections", list_collections)
    r.add_get("/collections/{name}", get_collection)
    r.add_put("/collections/{name}", create_collection)
    r.add_delete("/collections/{name}", delete_collection)
    r.add_get("/collections/{name}/exists", collection_exists)
    r.add_put("/collections/{name}/index", create_field_index)
    r.add_delete("/collections/{name}/index/{field_name}", delete_field_index)
    r.add_put("/collections/{name}/vectors/{vector_name}", create_vector_name)
    r.add_delete("/collections/{name}/vectors/{vector_name}", delete_vector_name)
    r.add_post("/collections/aliases", update_aliases)
    r.add_get("/collections/{name}/aliases", collection_aliases)
    r.add_get("/aliases", all_aliases)
