"""The lexical fallback: a BM25 index per collection that answers text queries when no region can.

Fed from the journal (`lexical_feed`), so it holds every acknowledged write, and persistent under
`root`, so it survives restarts. It answers honestly or not at all: a filter it cannot evaluate,
a collection it has no trustworthy index for, or query text with no words makes it raise
`LexicalDeclined` with the reason, which the gateway names in its 503.

Threads: writes (`apply`, `install`) run one at a time, on the index's writer thread when called
through the `*_async` methods; searches may run on any thread at the same time. Tantivy releases
the GIL while it searches and commits.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from rgw.durable import atomic_write, rename_durably
from rgw.fallbacks.lexical_collection import (
    BUILD_HEAP,
    SCHEMA_VERSION,
    CollectionIndex,
    IndexState,
    SpecSource,
    discard_other_generations,
    doc_key,
    live_generation,
    new_generation,
    point_id,
    publish,
    upgrade,
)
from rgw.fallbacks.lexical_pushdown import narrowing
from rgw.fallbacks.lexical_search import Hit, ranked
from rgw.fallbacks.lexical_text import query_terms
from rgw.fallbacks.lexical_writes import Pending, Unknowable, apply_write
from rgw.journal.log import Entry
from rgw.qdrant.errors import QdrantError
from rgw.qdrant.evaluate import CannotEvaluate, Predicate, predicate
from rgw.qdrant.fields import Payload, PointId, parse_body
from rgw.qdrant.filters import Filter, parse_filter
from rgw.qdrant.writes import parse_write

log = logging.getLogger("rgw.lexical")

APPLIED_FILE = "applied.json"
INDEX_OPS = ("create_index", "delete_index")  # payload indexes change nothing lexical
PROGRESS_EVERY = 10_000


class LexicalDeclined(Exception):
    """The lexical index cannot answer this query honestly; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CollectionStats:
    documents: int
    applied_lsn: int
    stale: str | None
    size_bytes: int
    text_field: str


@dataclass(frozen=True)
class Staged:
    """A rebuilt index, committed and closed, waiting to be swapped in by `install`."""

    collection: str
    path: Path
    as_of: int  # the journal LSN the points reflect (at least)
    documents: int


class LexicalIndex:
    def __init__(self, root: Path, text_field_for: Callable[[str], str]) -> None:
        self.root = root
        self._text_field_for = text_field_for
        self._dirs = root / "collections"
        self._staging = root / "staging"
        self._trash = root / "trash"
        for path in (self._staging, self._trash):
            shutil.rmtree(path, ignore_errors=True)  # leftovers of an interrupted rebuild or drop
            path.mkdir(parents=True)
        self._dirs.mkdir(parents=True, exist_ok=True)
        self._collections: dict[str, CollectionIndex] = {}
        for directory in sorted(self._dirs.iterdir()):
            self._load(directory)
        try:
            self.applied_lsn: int = orjson.loads((root / APPLIED_FILE).read_bytes())["lsn"]
        except FileNotFoundError:
            self.applied_lsn = 0
        self._lock = threading.Lock()  # one writer at a time, whatever thread calls
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="lexical-writer")

    def _load(self, directory: Path) -> None:
        generation = live_generation(directory)
        if generation is None:  # a create that never published
            shutil.rmtree(directory, ignore_errors=True)
            return
        discard_other_generations(directory, generation)
        try:
            index = CollectionIndex.open(generation)
            if not index.filterable:
                index = self._upgraded(index)
            self._collections[directory.name] = index
        except Exception:
            log.exception("lexical index of `%s` could not be opened; it answers nothing until rebuilt",
                          directory.name)

    @staticmethod
    def _upgraded(old: CollectionIndex) -> CollectionIndex:
        """An index of an older schema, copied into the current one and swapped in (once, on open)."""
        log.warning("lexical index of `%s` has schema %d: upgrading it to %d (%d points)", old.path.parent.name,
                    old.state.schema_version, SCHEMA_VERSION, old.count())
        new = upgrade(old, new_generation(old.path.parent))
        old.close()
        publish(new.path)  # a crash before this leaves the old generation live, and the copy discarded
        return new

    # -- applying the journal -------------------------------------------------------------
    async def apply_async(self, entries: Sequence[Entry]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, self.apply, entries)

    def apply(self, entries: Sequence[Entry]) -> None:
        """Apply journal entries (in LSN order), then commit: one Tantivy commit per touched collection.

        Entries a collection's index already holds are skipped, so replaying is always safe.
        """
        if not entries:
            return
        with self._lock:
            self._note_gap(entries[0].lsn)
            pending: dict[str, Pending] = {}
            for entry in entries:
                self._apply_entry(entry, pending)
            for batch in pending.values():
                batch.commit()
            self._set_applied(max(self.applied_lsn, entries[-1].lsn))

    def _apply_entry(self, entry: Entry, pending: dict[str, Pending]) -> None:
        name = entry.collection
        current = self._collections.get(name)
        if current is not None and entry.lsn <= current.state.lsn:
            return  # already in the index: replayed after a restart, or rebuilt as of a later LSN
        if entry.op == "create_collection":
            pending.pop(name, None)
            self._create(name, self._created_state(entry))
            return
        if entry.op == "delete_collection":
            pending.pop(name, None)
            self._drop(name)
            return
        if current is None:
            self._create(name, IndexState(entry.lsn, self._text_field_for(name), None, stale=(
                f"lsn {entry.lsn} wrote to `{name}`, whose creation is not in the journal the lexical index "
                f"has read; rebuild it from a region (rgw reindex lexical --collection {name} --from REGION)")))
            return
        batch = pending.get(name) or pending.setdefault(name, Pending(current))
        batch.lsn = entry.lsn
        if batch.stale is not None or entry.op in INDEX_OPS:
            return
        try:
            if current.spec is None:
                raise Unknowable("the collection's spec is unknown, so its writes cannot be read")
            apply_write(parse_write(entry.op, parse_body(entry.body), current.spec), batch)
        except (Unknowable, QdrantError, ValueError) as exc:
            batch.stale = f"lsn {entry.lsn} ({entry.op}) could not be applied: {exc}"
            log.warning("lexical index of `%s` is stale from now on: %s", name, batch.stale)

    def _created_state(self, entry: Entry) -> IndexState:
        field = self._text_field_for(entry.collection)
        try:
            spec = SpecSource("create", parse_body(entry.body))
            spec.spec()  # readable, or the index is stale from the start
        except (QdrantError, ValueError) as exc:
            reason = f"lsn {entry.lsn} (create_collection) could not be read: {exc}"
            return IndexState(entry.lsn, field, None, stale=reason)
        return IndexState(entry.lsn, field, spec)

    def _note_gap(self, first: int) -> None:
        """Entries between what was applied and `first` are gone (journal trimmed): every index that
        may have missed some is stale."""
        if first <= self.applied_lsn + 1:
            return
        reason = (f"journal entries {self.applied_lsn + 1}..{first - 1} were trimmed before the lexical "
                  "index read them")
        for name, index in self._collections.items():
            if index.state.lsn < first - 1 and index.state.stale is None:
                index.commit({}, replace(index.state, stale=reason))
                log.warning("lexical index of `%s` is stale: %s", name, reason)

    def _create(self, name: str, state: IndexState) -> None:
        self._drop(name)
        index = CollectionIndex.create(new_generation(self._dirs / name), state)
        publish(index.path)
        self._collections[name] = index

    def _drop(self, name: str) -> None:
        index = self._collections.pop(name, None)
        if index is not None:
            index.close()
        directory = self._dirs / name
        if directory.exists():
            doomed = self._trash / uuid.uuid4().hex
            rename_durably(directory, doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def _set_applied(self, lsn: int) -> None:
        if lsn != self.applied_lsn:
            atomic_write(self.root / APPLIED_FILE, orjson.dumps({"lsn": lsn}))
            self.applied_lsn = lsn

    # -- searching --------------------------------------------------------------------------
    def search(self, collection: str, text: str, limit: int, filter_json: Any = None,
               with_payload: bool = True) -> list[Hit]:
        """The `limit` (>= 1) best BM25 matches for `text` among the points `filter_json` selects.

        Raises LexicalDeclined rather than answer wrongly; a malformed filter raises the
        QdrantError a region would answer with.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        index = self._usable(collection)
        parsed = parse_filter(filter_json)
        matches = None if parsed is None else _filter_predicate(parsed)
        terms = query_terms(text)
        if not terms:
            raise LexicalDeclined("the query text has no words to search for")
        narrow = None if parsed is None else narrowing(parsed, index)
        return ranked(index, terms, limit, matches, with_payload, narrow)

    def coverage(self, collection: str) -> float:
        """The fraction of the collection's points a lexical search can find: those whose text field
        holds at least one word (as of the index's last commit; cheap)."""
        return self._existing(collection).coverage()

    def _existing(self, collection: str) -> CollectionIndex:
        index = self._collections.get(collection)
        if index is None:
            raise LexicalDeclined(f"there is no lexical index for collection `{collection}`")
        return index

    def _usable(self, collection: str) -> CollectionIndex:
        index = self._existing(collection)
        state = index.state
        if state.stale is not None:
            raise LexicalDeclined(f"the lexical index of `{collection}` is stale: {state.stale}")
        field = self._text_field_for(collection)
        if field != state.text_field:
            raise LexicalDeclined(f"the lexical index of `{collection}` holds the text of `{state.text_field}`, "
                                  f"but its policy's text_field is `{field}`; rebuild it")
        return index

    # -- status ------------------------------------------------------------------------------
    def count(self, collection: str) -> int:
        return self._existing(collection).count()

    def points(self, collection: str) -> list[tuple[PointId, Payload]]:
        """Every point the index holds for `collection`, with its payload (a full pass: for checks)."""
        return [(point_id(key), payload) for key, payload in self._existing(collection).scan()]

    def stats(self) -> dict[str, CollectionStats]:
        collections = dict(self._collections)  # a snapshot: the writer thread may create or drop meanwhile
        return {name: CollectionStats(index.count(), index.state.lsn, index.state.stale, index.size_bytes(),
                                      index.state.text_field)
                for name, index in sorted(collections.items())}

    # -- rebuilding ---------------------------------------------------------------------------
    def build(self, collection: str, points: Iterable[tuple[PointId, Payload | None]], *, as_of: int,
              spec: SpecSource | None, progress: Callable[[int], None] | None = None) -> Staged:
        """A fresh index of `points` (unique ids), reflecting the journal as of `as_of`, ready to
        `install`. Slow: runs beside writes and searches, which keep using the live index."""
        current = self._collections.get(collection)
        if spec is None and current is not None:
            spec = current.state.spec
        state = IndexState(as_of, self._text_field_for(collection), spec,
                           stale=None if spec is not None else "the collection's spec is unknown")
        index = CollectionIndex.create(self._staging / uuid.uuid4().hex, state, heap=BUILD_HEAP)
        documents = 0
        try:
            for pid, payload in points:
                index.add(doc_key(pid), payload or {})
                documents += 1
                if progress is not None and documents % PROGRESS_EVERY == 0:
                    progress(documents)
            index.commit({}, state)
        except BaseException:
            index.close()
            shutil.rmtree(index.path, ignore_errors=True)
            raise
        index.close()
        if progress is not None:
            progress(documents)
        return Staged(collection, index.path, as_of, documents)

    async def install_async(self, staged: Staged) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, self.install, staged)

    def install(self, staged: Staged) -> None:
        """Swap a built index in (atomically). Entries after `staged.as_of` must be applied again:
        the applied LSN moves back to it, and a feeder must too (`LexicalFeeder.install` does both)."""
        with self._lock:
            directory = self._dirs / staged.collection
            directory.mkdir(exist_ok=True)
            generation = new_generation(directory)
            rename_durably(staged.path, generation)
            old = self._collections.pop(staged.collection, None)
            if old is not None:
                old.close()
            # Move back first: a crash between the two must not leave the new index live with a
            # position past entries it lacks.
            self._set_applied(min(self.applied_lsn, staged.as_of))
            publish(generation)
            self._collections[staged.collection] = CollectionIndex.open(generation)

    def rebuild_from_points(self, collection: str, points: Iterable[tuple[PointId, Payload | None]],
                            progress: Callable[[int], None] | None = None, *, as_of: int,
                            spec: SpecSource | None = None) -> int:
        """Build and install in one go; returns the number of points indexed."""
        staged = self.build(collection, points, as_of=as_of, spec=spec, progress=progress)
        self.install(staged)
        return staged.documents

    def close(self) -> None:
        self._writer_thread.shutdown(wait=True)
        with self._lock:
            for index in self._collections.values():
                index.close()


def _filter_predicate(parsed: Filter) -> Predicate:
    try:
        return predicate(parsed)
    except CannotEvaluate as exc:
        raise LexicalDeclined(f"the filter cannot be evaluated in lexical mode: {exc}") from exc
