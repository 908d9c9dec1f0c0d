"""Qdrant point writes applied to a lexical index: which points end up with which payload.

A batch of journal entries is applied to a `Pending` overlay over the committed index, so later
entries see earlier ones before anything is committed, and each point is written once per
commit whatever number of entries touched it.

A write selecting points by filter reads only the committed points matching the part of the
filter Tantivy can check (`lexical_pushdown`; all of them when no part can), plus those the batch
has written, and evaluates the whole filter over each: a filter keeping 1 point in 80 no longer
reads every payload of the collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import tantivy

from rgw.fallbacks.lexical_collection import CollectionIndex, doc_key, point_id
from rgw.fallbacks.lexical_pushdown import narrowing
from rgw.fallbacks.payloads import with_set, without
from rgw.qdrant.evaluate import CannotEvaluate, Predicate, predicate
from rgw.qdrant.fields import Payload
from rgw.qdrant.filters import Filter
from rgw.qdrant.writes import (
    Batch,
    ClearPayload,
    Delete,
    DeletePayload,
    DeleteVectors,
    FilterTarget,
    SetPayload,
    Target,
    UpdateVectors,
    Upsert,
    Write,
)


class Unknowable(Exception):
    """A write whose effect the index cannot work out (a filter it cannot evaluate)."""


class Pending:
    """One collection's changes in the current batch, over what its index has committed."""

    def __init__(self, index: CollectionIndex) -> None:
        self.index = index
        self.changes: dict[str, Payload | None] = {}  # None: deleted
        self.lsn = index.state.lsn
        self.stale = index.state.stale

    def commit(self) -> None:
        self.index.commit(self.changes, replace(self.index.state, lsn=self.lsn, stale=self.stale))

    def get(self, key: str) -> Payload | None:
        if key in self.changes:
            return self.changes[key]
        return self.index.lookup(key)

    def scan(self, narrow: tantivy.Query | None = None) -> Iterator[tuple[str, Payload]]:
        """The points as of this batch: the committed ones matching `narrow` (all when None), and
        every one the batch has written (the index has not seen their payloads yet)."""
        for key, payload in self.index.scan(narrow):
            if key not in self.changes:
                yield key, payload
        for key, changed in list(self.changes.items()):
            if changed is not None:
                yield key, changed

    def put(self, key: str, payload: Payload) -> None:
        self.changes[key] = payload

    def remove(self, key: str) -> None:
        self.changes[key] = None


def apply_write(write: Write, pending: Pending) -> None:
    """Apply one parsed write; raises Unknowable when its effect cannot be known here."""
    match write:
        case Batch(operations=operations):
            for operation in operations:
                apply_write(operation, pending)
        case Upsert():
            _upsert(write, pending)
        case Delete(target=target):
            for key, _ in _selected(target, pending):
                pending.remove(key)
        case SetPayload(target=target, payload=values, key=at, overwrite=overwrite):
            for key, current in _selected(target, pending):
                # Overwriting replaces the whole payload; the engine ignores `key` then.
                pending.put(key, dict(values) if overwrite else with_set(current, values, at))
        case DeletePayload(target=target, keys=keys):
            for key, current in _selected(target, pending):
                pending.put(key, without(current, keys))
        case ClearPayload(target=target):
            for key, _ in _selected(target, pending):
                pending.put(key, {})
        case UpdateVectors() | DeleteVectors():
            pass  # the lexical index holds no vectors
        case _:
            raise TypeError(f"not a points write: {write!r}")  # the caller passes points writes only


def _upsert(write: Upsert, pending: Pending) -> None:
    """Qdrant's upsert: `insert_only` skips existing points, `update_only` skips new ones, and an
    `update_filter` leaves existing points that do not match it untouched (new points go in)."""
    mode = write.update_mode or "upsert"
    matches = None if write.update_filter is None else _predicate(write.update_filter, "update_filter")
    for point in write.points:
        key = doc_key(point.id)
        if mode != "upsert" or matches is not None:
            existing = pending.get(key)
            if existing is None:
                if mode == "update_only":
                    continue
            elif mode == "insert_only" or (matches is not None and not matches(point.id, existing)):
                continue
        pending.put(key, point.payload or {})


def _selected(target: Target, pending: Pending) -> list[tuple[str, Payload]]:
    """The existing points a selector names, with their current payloads (missing ids are skipped,
    as a region skips them)."""
    if isinstance(target, FilterTarget):
        matches = _predicate(target.filter, "filter")
        # The pushed-down part of the filter only narrows the candidates; `matches` decides each.
        candidates = pending.scan(narrowing(target.filter, pending.index))
        return [(key, payload) for key, payload in candidates if matches(point_id(key), payload)]
    found = []
    for pid in target.ids:
        key = doc_key(pid)
        if (current := pending.get(key)) is not None:
            found.append((key, current))
    return found


def _predicate(filter_: Filter, where: str) -> Predicate:
    try:
        return predicate(filter_, where)
    except CannotEvaluate as exc:
        raise Unknowable(f"{exc}: the lexical index cannot tell which points this write selects") from exc
