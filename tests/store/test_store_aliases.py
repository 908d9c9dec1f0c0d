"""Collection aliases through the real client: create, delete, rename, the blue-green switch in
one atomic request, resolution on every collection endpoint, persistence across a kill -9, and
a collection's aliases dropped with it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m
from qdrant_client.http.exceptions import UnexpectedResponse

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore, StartStore


def create(alias: str, collection: str) -> m.CreateAliasOperation:
    return m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias))


def delete(alias: str) -> m.DeleteAliasOperation:
    return m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias))


def rename(old: str, new: str) -> m.RenameAliasOperation:
    return m.RenameAliasOperation(rename_alias=m.RenameAlias(old_alias_name=old, new_alias_name=new))


def aliases_of(client: QdrantClient, collection: str | None = None) -> set[tuple[str, str]]:
    found = client.get_aliases() if collection is None else client.get_collection_aliases(collection)
    return {(a.alias_name, a.collection_name) for a in found.aliases}


def fresh(client: QdrantClient, size: int = 2, points: int = 3) -> str:
    name = f"c_{uuid.uuid4().hex[:10]}"
    client.create_collection(name, vectors_config=m.VectorParams(size=size, distance=m.Distance.DOT))
    client.upsert(name, [m.PointStruct(id=i, vector=[1.0, float(i)], payload={"n": i, "k": "v"})
                         for i in range(points)])
    return name


def test_create_rename_delete(client: QdrantClient) -> None:
    blue = fresh(client)
    alias, renamed = f"a_{uuid.uuid4().hex[:8]}", f"r_{uuid.uuid4().hex[:8]}"
    assert client.update_collection_aliases([create(alias, blue)])
    assert (alias, blue) in aliases_of(client)
    assert aliases_of(client, blue) == {(alias, blue)}
    assert client.update_collection_aliases([rename(alias, renamed)])
    assert aliases_of(client, blue) == {(renamed, blue)}
    assert client.update_collection_aliases([delete(renamed), delete("never-existed")])
    assert aliases_of(client, blue) == set()


def test_an_alias_answers_as_its_collection(client: QdrantClient, store: RunningStore) -> None:
    target = fresh(client)
    alias = f"a_{uuid.uuid4().hex[:8]}"
    client.update_collection_aliases([create(alias, target)])
    assert client.collection_exists(alias)
    assert client.get_collection(alias).points_count == 3
    client.upsert(alias, [m.PointStruct(id=7, vector=[0.5, 7.0], payload={"n": 7, "k": "v"})])
    assert client.count(target).count == 4
    assert client.retrieve(alias, [7])[0].payload == {"n": 7, "k": "v"}
    assert [p.id for p in client.query_points(alias, query=[0.0, 1.0], limit=2).points] == [7, 2]
    assert len(client.scroll(alias, limit=10)[0]) == 4
    client.create_payload_index(alias, "k", m.PayloadSchemaType.KEYWORD)
    assert client.facet(alias, "k").hits[0].count == 4
    assert client.query_points_groups(alias, group_by="k", query=[0.0, 1.0]).groups[0].id == "v"
    assert len(client.search_matrix_pairs(alias, sample=4, limit=1).pairs) == 4
    client.delete(alias, m.PointIdsList(points=[7]))
    assert client.count(target).count == 3
    status, answer = store.http("GET", f"/collections/{alias}/points/1")
    assert status == 200 and answer["result"]["id"] == 1
    snapshot = client.create_snapshot(alias)
    assert snapshot is not None and snapshot.name.startswith(target)
    assert [s.name for s in client.list_snapshots(alias)] == [snapshot.name]
    # Other collections may name it too: lookup_from and with_lookup.
    other = fresh(client)
    found = client.query_points(other, query=2, lookup_from=m.LookupLocation(collection=alias), limit=1).points
    assert found[0].id == 2
    groups = client.query_points_groups(other, group_by="n", query=[1.0, 0.0], limit=3, group_size=1,
                                        with_lookup=alias)
    assert {g.lookup.id for g in groups.groups} == {0, 1, 2}


def test_blue_green_switch_is_one_atomic_request(client: QdrantClient) -> None:
    blue, green = fresh(client, points=3), fresh(client, points=5)
    live = f"live_{uuid.uuid4().hex[:8]}"
    client.update_collection_aliases([create(live, blue)])
    assert client.count(live).count == 3
    client.update_collection_aliases([delete(live), create(live, green)])
    assert client.count(live).count == 5
    # A request whose last action fails changes nothing.
    with pytest.raises(UnexpectedResponse) as failed:
        client.update_collection_aliases([delete(live), create(live, blue), create("x", "no-such-collection")])
    assert failed.value.status_code == 404
    assert aliases_of(client, green) == {(live, green)} and aliases_of(client, blue) == set()


def test_names_are_either_collections_or_aliases(client: QdrantClient, store: RunningStore) -> None:
    target, taken = fresh(client), fresh(client)
    alias = f"a_{uuid.uuid4().hex[:8]}"
    with pytest.raises(UnexpectedResponse) as clash:
        client.update_collection_aliases([create(taken, target)])
    assert clash.value.status_code == 400 and "already exists" in str(clash.value)
    client.update_collection_aliases([create(alias, target)])
    status, answer = store.http("PUT", f"/collections/{alias}", {"vectors": {"size": 2, "distance": "Dot"}})
    assert status == 400 and "Alias with the same name already exists" in answer["status"]["error"]
    # As in Qdrant, deleting by an alias's name deletes nothing: collections are deleted by name.
    assert client.delete_collection(alias) is False
    assert client.count(alias).count == 3


def test_deleting_a_collection_drops_its_aliases(client: QdrantClient) -> None:
    target = fresh(client)
    alias = f"a_{uuid.uuid4().hex[:8]}"
    client.update_collection_aliases([create(alias, target)])
    assert client.delete_collection(target)
    assert (alias, target) not in aliases_of(client)
    assert not client.collection_exists(alias)
    # The name is free again, for a collection or an alias.
    fresh_target = fresh(client)
    client.update_collection_aliases([create(alias, fresh_target)])
    assert client.count(alias).count == 3


def test_aliases_survive_a_kill_9(start_store: StartStore) -> None:
    store = start_store()
    client = store.client()
    for name in ("blue", "green"):
        client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.update_collection_aliases([create("live", "blue"), create("old", "green")])
    client.update_collection_aliases([delete("live"), create("live", "green"), rename("old", "previous")])
    store.proc.kill()

    client = start_store(data=store.data).client()
    assert aliases_of(client) == {("live", "green"), ("previous", "green")}
    assert client.get_collection("live").config.params.vectors.size == 2
