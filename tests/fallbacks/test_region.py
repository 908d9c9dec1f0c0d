"""Against a real region store: the index edits payloads exactly as a region does, and rebuilds from one."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from rgw.fallbacks.lexical_feed import LexicalFeeder
from rgw.fallbacks.lexical_rebuild import RebuildFailed, RebuildProgress, reindex_from_region
from rgw.regions.client import RegionClient
from rgw.settings.config import Region
from tests.fallbacks.helpers import Collection, journaled, points
from tests.qdrant.conftest import Reference

BASE = {"text": "common words", "a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]}, "f": 3, "g": ["g0", "g1"], "n": 1}
EDITS: list[tuple[str, dict[str, Any]]] = [
    ("set_payload", {"payload": {"n": None, "x": 1}}),
    ("set_payload", {"payload": {"z": 5}, "key": "a"}),
    ("set_payload", {"payload": {"c": 5}, "key": "a.b[1]"}),
    ("set_payload", {"payload": {"c": 5}, "key": "a.b[5]"}),
    ("set_payload", {"payload": {"c": 5}, "key": "a.b[].q"}),
    ("set_payload", {"payload": {"c": 5}, "key": "f.x"}),
    ("set_payload", {"payload": {"c": 5}, "key": "new.k[].z"}),
    ("set_payload", {"payload": {"c": None}, "key": "a.b[0]"}),
    ("set_payload", {"payload": {"c": 5}, "key": "g[0]"}),
    ("set_payload", {"payload": {"c": 5}, "key": "f[0]"}),
    ("overwrite_payload", {"payload": {"c": 5}, "key": "a"}),
    ("overwrite_payload", {"payload": {"c": None, "d": 1}}),
    ("delete_payload", {"keys": ["a.b[].c"]}),
    ("delete_payload", {"keys": ["a.b[1]"]}),
    ("delete_payload", {"keys": ["a.b[]"]}),
    ("delete_payload", {"keys": ["g[0]", "f"]}),
    ("delete_payload", {"keys": ["missing.x", "f.x", "a.b[2].d.e"]}),
    ("clear_payload", {}),
]
KEYS = ["k", "obj", "obj.sub", "arr", "arr[]", "arr[0]", "arr[].x"]
VALUES: list[Any] = [1, 2, "x", None, [1, 2], [{"x": 1}, {"y": 2}], {"sub": 1}]


def named(docs: Collection) -> Collection:
    """The same journal and index, under a collection name no other test of the session uses."""
    return Collection(docs.journal, docs.index, f"{docs.name}_{uuid.uuid4().hex[:8]}")


class Both:
    """Every write goes to the region store and into the journal (then the lexical index)."""

    def __init__(self, docs: Collection, store: Reference) -> None:
        self.docs, self.store = docs, store

    async def write(self, op: str, body: dict[str, Any] | None = None) -> None:
        request = journaled(self.docs.name, op, body)
        self.store.call(request.method, request.path + "?wait=true", body)
        await self.docs.write(op, body)

    def existing(self) -> list[int]:
        result = self.store.call("POST", f"/collections/{self.docs.name}/points/scroll",
                                 {"limit": 1000, "with_payload": False})
        return sorted(point["id"] for point in result["points"])

    def payloads(self) -> dict[Any, Any]:
        result = self.store.call("POST", f"/collections/{self.docs.name}/points/scroll", {"limit": 1000})
        return {point["id"]: point["payload"] for point in result["points"]}


async def test_payload_edits_come_out_as_a_region_makes_them(docs: Collection, reference: Reference) -> None:
    both = Both(named(docs), reference)
    await both.write("create_collection", {"vectors": {"size": 2, "distance": "Dot"}})
    await both.write("upsert", points(dict.fromkeys(range(len(EDITS)), BASE)))
    for i, (op, body) in enumerate(EDITS):
        await both.write(op, {**body, "points": [i]})
    await both.docs.catch_up()
    assert dict(both.docs.index.points(both.docs.name)) == both.payloads()


def _random_write(rng: random.Random, existing: list[int]) -> tuple[str, dict[str, Any]]:
    """A point write over ids 0..11, selecting by ids (existing ones only) or by a filter on `k`."""
    target: dict[str, Any] = ({"filter": {"must": [{"key": "k", "match": {"value": rng.choice([1, 2, "x"])}}]}}
                              if rng.random() < 0.4 or not existing else {"points": rng.sample(existing, 2)})
    values = {rng.choice(["k", "obj", "arr"]): rng.choice(VALUES) for _ in range(2)}
    kind = rng.choice(["set", "set_key", "overwrite", "delete_keys", "clear", "upsert", "delete"])
    if kind == "set":
        return "set_payload", {**target, "payload": values}
    if kind == "set_key":
        return "set_payload", {**target, "payload": values, "key": rng.choice(KEYS)}
    if kind == "overwrite":
        return "overwrite_payload", {**target, "payload": values}
    if kind == "delete_keys":
        return "delete_payload", {**target, "keys": rng.sample(KEYS, 2)}
    if kind == "clear":
        return "clear_payload", target
    if kind == "delete":
        return "delete", target if "filter" in target else {"points": target["points"][:1]}
    body = points({pid: {"k": rng.choice(VALUES), "text": "w"} for pid in rng.sample(range(12), 4)})
    mode = rng.choice([None, "insert_only", "update_only"])
    if mode:
        body["update_mode"] = mode
    if rng.random() < 0.5:
        body["update_filter"] = {"must": [{"key": "k", "match": {"any": [1, 2]}}]}
    return "upsert", body


async def test_random_writes_end_with_the_region_s_payloads(docs: Collection, reference: Reference) -> None:
    both = Both(named(docs), reference)
    rng = random.Random(20240607)
    await both.write("create_collection", {"vectors": {"size": 2, "distance": "Dot"}})
    await both.write("upsert", points({i: {"k": rng.choice(VALUES), "text": "w"} for i in range(8)}))
    for step in range(80):
        await both.write(*_random_write(rng, both.existing()))
        if step % 10 == 0:
            await both.docs.catch_up()  # also across commits, not only within one batch
    await both.docs.catch_up()
    assert dict(both.docs.index.points(both.docs.name)) == both.payloads()


async def test_rebuild_from_a_region_scrolls_every_point(docs: Collection, fed: LexicalFeeder,
                                                         reference: Reference) -> None:
    fresh = named(docs)
    await fresh.create()  # journaled; the points below are written to the region behind the gateway's back
    reference.call("PUT", f"/collections/{fresh.name}", {"vectors": {"size": 2, "distance": "Dot"}})
    payloads = {i: {"text": f"refund {'order' if i % 2 else 'parcel'} {i}", "odd": i % 2 == 1} for i in range(2500)}
    reference.call("PUT", f"/collections/{fresh.name}/points?wait=true", points(payloads))
    client = RegionClient(Region("primary", reference.url))
    progress: list[RebuildProgress] = []
    page = 700  # not a divisor of the point count: the last page is a partial one
    try:
        indexed = await reindex_from_region(fed, client, fresh.name, fresh.journal.head, progress.append, page=page)
        assert indexed == len(payloads)
        # One report per page read (running total), then the final one.
        per_page = [min(end, len(payloads)) for end in range(page, len(payloads) + page, page)]
        assert [p.indexed for p in progress] == [*per_page, len(payloads)]
        assert not any(p.done for p in progress[:-1])
        assert progress[-1].done and progress[-1].expected == len(payloads) and progress[-1].region == "primary"
        assert fresh.index.count(fresh.name) == len(payloads)
        even_parcels = {i for i, p in payloads.items() if "parcel" in str(p["text"]) and not p["odd"]}
        assert set(fresh.ids("parcel", len(payloads), {"must": [{"key": "odd", "match": {"value": False}}]})) == \
            even_parcels

        later = await fresh.upsert({5000: {"text": "refund after rebuild"}})
        assert await fed.wait_applied(later.lsn, 5.0)
        assert fresh.ids("after rebuild") == [5000]

        with pytest.raises(RebuildFailed, match="HTTP 404"):
            await reindex_from_region(fed, client, "no_such_collection", fresh.journal.head)
        assert fresh.index.count(fresh.name) == len(payloads) + 1
    finally:
        client.close()
