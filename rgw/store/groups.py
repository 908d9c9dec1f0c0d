"""Grouped queries (`points/query/groups`, `points/search/groups`, `points/recommend/groups`),
which the engine lacks, over its ranked results.

Points are taken in the query's order and put in a group per value of `group_by` (strings and
integers; a point whose key holds several values is in several groups). Groups come in the order
of their best hit, each with up to `group_size` hits in query order; the first `limit` groups are
the answer. The engine is asked for `limit * group_size` points, then for twice as many while the
best groups are not full and more points may exist, a bounded number of times (as Qdrant, whose
grouping also gives up after a few rounds); prefetch limits grow with it, as in Qdrant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from rgw.qdrant.errors import FormatError
from rgw.qdrant.fields import PointId, canonical_id, point_id
from rgw.qdrant.query import GroupsRequest, WithLookup
from rgw.store import render
from rgw.store.errors import formula_errors
from rgw.store.queries import Lookup, Planner, has_formula
from rgw.store.run import selected_vectors
from rgw.store.translate import engine_payload, engine_vector_selector

if TYPE_CHECKING:
    from rgw.store.collection import Collection

MAX_ROUNDS = 5
GroupId = str | int


@dataclass
class Groups:
    size: int
    hits: dict[GroupId, list[Any]] = field(default_factory=dict)  # in the order groups appeared
    _members: dict[GroupId, set[Any]] = field(default_factory=dict)

    def add(self, point: Any, keys: list[GroupId]) -> None:
        for key in keys:
            hits, members = self.hits.setdefault(key, []), self._members.setdefault(key, set())
            if len(hits) < self.size and point.id not in members:
                hits.append(point)
                members.add(point.id)

    def settled(self, limit: int) -> bool:
        """The best `limit` groups are known and full."""
        best = list(self.hits.values())[:limit]
        return len(best) == limit and all(len(hits) == self.size for hits in best)


def group_keys(payload: Any, request: GroupsRequest) -> list[GroupId]:
    """The group ids a point belongs to: the string and integer values under `group_by`."""
    if not isinstance(payload, dict):
        return []
    keys: list[GroupId] = []
    for value in request.group_by.values(payload):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | int) and not isinstance(item, bool) and item not in keys:
                keys.append(item)
    return keys


def query_groups(planner: Planner, request: GroupsRequest, lookup: Lookup) -> dict[str, Any]:
    collection = planner.collection
    stage, wanted = request.request.stage, request.request
    key_present = qe.Filter(must_not=[qe.IsEmptyCondition(request.group_by.text)])
    groups = Groups(request.group_size)
    for round_ in range(MAX_ROUNDS):
        factor = 2 ** round_
        limit = request.limit * request.group_size * factor
        with formula_errors(has_formula(stage)):
            found = collection.query([planner.root(stage, limit=limit, offset=0, with_payload=True,
                                                   with_vector=wanted.with_vector, must=[key_present],
                                                   prefetch_factor=request.limit * factor)])[0]
        groups = Groups(request.group_size)
        for point in selected_vectors(wanted, found):
            groups.add(point, group_keys(point.payload, request))
        if len(found) < limit or groups.settled(request.limit):
            break
    best = list(groups.hits.items())[:request.limit]
    payloads = _payloads(collection, best, wanted.with_payload)
    lookups = {} if request.with_lookup is None else _lookups(lookup, request.with_lookup, [k for k, _ in best])
    out = []
    for key, hits in best:
        group: dict[str, Any] = {"id": key, "hits": [_rendered(hit, payloads) for hit in hits]}
        if key in lookups:
            group["lookup"] = lookups[key]
        out.append(group)
    return {"groups": out}


def _payloads(collection: Collection, best: list[tuple[GroupId, list[Any]]], selection: Any) -> dict[Any, Any] | None:
    """The hits' payloads as the caller selected them (the search read them whole, for `group_by`);
    None when the whole payload was asked for."""
    if selection is True:
        return None
    if selection is False:
        return {}
    ids = list(dict.fromkeys(canonical_id(hit.id) for _, hits in best for hit in hits))
    records = collection.retrieve_raw(ids, engine_payload(selection), False)
    return {canonical_id(record.id): record.payload for record in records}


def _rendered(hit: Any, payloads: dict[Any, Any] | None) -> dict[str, Any]:
    point = render.scored_point(hit)
    if payloads is not None:
        point["payload"] = payloads.get(canonical_id(hit.id))
    return point


def _lookups(lookup: Lookup, with_lookup: WithLookup, keys: list[GroupId]) -> dict[GroupId, Any]:
    """Each group id that is a point id of the lookup collection -> that point, rendered."""
    ids: dict[PointId, GroupId] = {}
    for key in keys:
        try:
            ids[point_id(key, "group id")] = key
        except FormatError:
            continue  # not a point id: nothing to look up
    if not ids:
        return {}
    records = lookup(with_lookup.collection).retrieve_raw(
        list(ids), engine_payload(with_lookup.with_payload), engine_vector_selector(with_lookup.with_vector))
    return {ids[canonical_id(record.id)]: render.record(record) for record in records}
