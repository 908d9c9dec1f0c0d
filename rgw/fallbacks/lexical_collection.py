"""One collection's lexical index on disk: Tantivy documents (point id, text, payload) and the index's state.

A collection's directory holds generations `g-<hex>/`, each a Tantivy index, and `CURRENT`,
naming the live one. A rebuild writes a new generation and swaps it in by rewriting `CURRENT`
atomically, so a crash leaves the old or the new generation live, never a mix.

The state (applied LSN, staleness, the collection's spec) is itself a document of the index,
so each Tantivy commit records the documents and the LSN they reflect together.

Schema 2 added the payload as a JSON field (`lexical_attrs`: what filters are pushed down to) and
a marker on documents without words. An index of an older schema is upgraded when it is opened,
from the payloads it stores, into a new generation (`upgrade`).
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import tantivy

from rgw.durable import atomic_write
from rgw.fallbacks.lexical_attrs import filterable, skipped_key
from rgw.fallbacks.lexical_text import ANALYZER, TextField, build_analyzer, findable
from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.fields import Payload, PointId, canonical_id

ID, TEXT, PAYLOAD = "id", "text", "payload"
ATTRS = "attrs"  # the payload's filterable values (schema 2)
TEXTLESS, MARK = "textless", "1"  # on documents whose text holds no word: no query can find them (schema 2)
SCHEMA_VERSION = 2
STATE_KEY = "_state"  # the state document's id; no point id looks like it (they are integers or UUIDs)
CURRENT = "CURRENT"
WRITER_HEAP = 64 << 20  # bytes Tantivy buffers before it writes a segment
BUILD_HEAP = 256 << 20  # a rebuild writes millions of documents: fewer, larger segments


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(ID, stored=True, tokenizer_name="raw", index_option="basic")
    # BM25 needs term frequencies but no positions: queries are bags of terms, never phrases.
    builder.add_text_field(TEXT, tokenizer_name=ANALYZER, index_option="freq")
    builder.add_bytes_field(PAYLOAD, stored=True)
    builder.add_json_field(ATTRS, fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field(TEXTLESS, tokenizer_name="raw", index_option="basic")
    return builder.build()


@dataclass(frozen=True)
class SpecSource:
    """The JSON the collection's spec was read from: its journaled create body, or a region's collection info."""

    kind: str  # "create" or "info"
    source: dict[str, Any]

    def spec(self) -> CollectionSpec:
        if self.kind == "create":
            return CollectionSpec.parse(self.source)
        return CollectionSpec.from_info({"config": self.source})


@dataclass(frozen=True)
class IndexState:
    lsn: int  # every journal entry for this collection up to here is in the index
    text_field: str  # the payload key whose text was indexed
    spec: SpecSource | None  # None only for an index that is stale from the start
    stale: str | None = None  # why the index cannot be trusted any more; searches then decline
    schema_version: int = SCHEMA_VERSION  # of the Tantivy index holding this state

    def to_json(self) -> bytes:
        spec = None if self.spec is None else {"kind": self.spec.kind, "source": self.spec.source}
        return orjson.dumps({"lsn": self.lsn, "text_field": self.text_field, "spec": spec, "stale": self.stale,
                             "schema": self.schema_version})

    @classmethod
    def from_json(cls, raw: bytes) -> IndexState:
        data = orjson.loads(raw)
        spec = data["spec"]
        return cls(data["lsn"], data["text_field"], None if spec is None else SpecSource(spec["kind"], spec["source"]),
                   data["stale"], data.get("schema", 1))


class CollectionIndex:
    """One generation's Tantivy index. Writes come from one thread at a time; reads from any."""

    def __init__(self, path: Path, index: tantivy.Index, state: IndexState) -> None:
        self.path = path
        self.state = state
        self.spec = None if state.spec is None else state.spec.spec()
        self.text = TextField.parse(state.text_field)
        self.skipped_key = skipped_key(self.text)  # left out of ATTRS
        self._index = index
        self.schema = index.schema
        self._writer: tantivy.IndexWriter | None = None
        self._counts = self._counted()

    @classmethod
    def create(cls, path: Path, state: IndexState, heap: int = WRITER_HEAP) -> CollectionIndex:
        """A new, empty index holding only its state (committed)."""
        path.mkdir(parents=True)
        index = _prepared(tantivy.Index(_schema(), path=str(path), reuse=False))
        made = cls(path, index, state)
        made._writer = index.writer(heap_size=heap, num_threads=1)
        made.commit({}, state)
        return made

    @classmethod
    def open(cls, path: Path) -> CollectionIndex:
        index = _prepared(tantivy.Index.open(str(path)))
        state = _stored_payload(index.searcher(), index.schema, STATE_KEY)
        if state is None:
            raise ValueError(f"{path}: no state document")
        return cls(path, index, IndexState.from_json(state))

    # -- writing (one thread) -------------------------------------------------------------
    def add(self, key: str, payload: Payload) -> None:
        """Add a point known not to be in the index yet (a fresh build)."""
        self._writer_ready().add_document(self._document(key, payload))

    def commit(self, changes: Mapping[str, Payload | None], state: IndexState) -> None:
        """Replace (payload) or delete (None) the given points and record `state`, in one commit."""
        writer = self._writer_ready()
        for key, payload in changes.items():
            writer.delete_documents_by_term(ID, key)
            if payload is not None:
                writer.add_document(self._document(key, payload))
        writer.delete_documents_by_term(ID, STATE_KEY)
        record = tantivy.Document()
        record.add_text(ID, STATE_KEY)
        record.add_bytes(PAYLOAD, state.to_json())
        writer.add_document(record)
        writer.commit()
        self._index.reload()  # searchers taken from now on see the commit
        self.state = state
        self._counts = self._counted()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None

    def _writer_ready(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=WRITER_HEAP, num_threads=1)
        return self._writer

    def _document(self, key: str, payload: Payload) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_text(ID, key)
        text = self.text.text(payload)
        if text is not None:  # a point without text still counts: filters and deletes must see it
            doc.add_text(TEXT, text)
        if not findable(text):
            doc.add_text(TEXTLESS, MARK)
        doc.add_bytes(PAYLOAD, orjson.dumps(payload))
        doc.add_json(ATTRS, orjson.dumps(filterable(payload, self.skipped_key)).decode())  # faster than a dict
        return doc

    # -- reading (any thread) -------------------------------------------------------------
    def searcher(self) -> tantivy.Searcher:
        return self._index.searcher()

    @property
    def filterable(self) -> bool:
        """Whether filters can be pushed down (the index has the schema holding the payload's values)."""
        return self.state.schema_version >= SCHEMA_VERSION

    def parse_query(self, text: str) -> tantivy.Query:
        return self._index.parse_query(text, [])

    def count(self) -> int:
        return self.searcher().num_docs - 1  # the state document

    def coverage(self) -> float:
        """The fraction of the points in the index that some query can find: those whose text holds a word."""
        documents, textless = self._counts
        return 1.0 if documents <= 0 else (documents - textless) / documents

    def _counted(self) -> tuple[int, int]:
        """(points, points without words), as of the last commit: counting the (few) marked ones is cheap."""
        searcher = self.searcher()
        if not self.filterable:
            return searcher.num_docs - 1, 0
        marked = searcher.search(tantivy.Query.term_query(self.schema, TEXTLESS, MARK), 1, count=True).count
        return searcher.num_docs - 1, marked or 0

    def lookup(self, key: str) -> Payload | None:
        raw = _stored_payload(self.searcher(), self.schema, key)
        return None if raw is None else orjson.loads(raw)

    def scan(self, narrowing: tantivy.Query | None = None) -> Iterator[tuple[str, Payload]]:
        """Every point matching `narrowing` (all when None: a full pass), with its payload."""
        searcher = self.searcher()
        query = tantivy.Query.all_query() if narrowing is None else tantivy.Query.const_score_query(narrowing, 0.0)
        for _, address in searcher.search(query, searcher.num_docs, count=False).hits:
            key, payload = stored(searcher, address)
            if key != STATE_KEY:
                yield key, orjson.loads(payload)

    def matching(self, searcher: tantivy.Searcher, terms: list[str], limit: int,
                 narrowing: tantivy.Query | None = None) -> list[tuple[float, Any]]:
        """The `limit` best (BM25 score, doc address) for documents holding any of the terms (and
        matching `narrowing`, which adds nothing to the scores)."""
        queries = [tantivy.Query.term_query(self.schema, TEXT, term, index_option="freq") for term in terms]
        query = queries[0] if len(queries) == 1 else tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, q) for q in queries])
        if narrowing is not None:
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (
                tantivy.Occur.Must, tantivy.Query.const_score_query(narrowing, 0.0))])
        return searcher.search(query, limit, count=False).hits

    def size_bytes(self) -> int:
        total = 0
        for path in self.path.iterdir():
            with contextlib.suppress(FileNotFoundError):  # a merge may delete segment files meanwhile
                total += path.stat().st_size
        return total


def upgrade(old: CollectionIndex, generation: Path, heap: int = BUILD_HEAP) -> CollectionIndex:
    """A copy of `old` in the current schema at `generation` (committed, not yet published), from the
    ids and payloads `old` stores; `old` is left as it was."""
    state = replace(old.state, schema_version=SCHEMA_VERSION)
    new = CollectionIndex.create(generation, state, heap=heap)
    try:
        for key, payload in old.scan():
            new.add(key, payload)
        new.commit({}, state)
    except BaseException:
        new.close()
        shutil.rmtree(generation, ignore_errors=True)
        raise
    new.close()  # the build's writer (and its large heap) goes; later writes open an ordinary one
    return new


def _prepared(index: tantivy.Index) -> tantivy.Index:
    index.register_tokenizer(ANALYZER, build_analyzer())  # not persisted: needed by every open
    index.config_reader("manual")  # commits reload explicitly; no file-watching thread per index
    return index


def _stored_payload(searcher: tantivy.Searcher, schema: tantivy.Schema, key: str) -> bytes | None:
    hits = searcher.search(tantivy.Query.term_query(schema, ID, key), 1, count=False).hits
    return searcher.doc(hits[0][1]).get_first(PAYLOAD) if hits else None


def doc_key(point_id: PointId) -> str:
    """The index's spelling of a point id (an exact term): `123`, or a UUID in canonical form."""
    return str(canonical_id(point_id))


def point_id(key: str) -> PointId:
    return int(key) if key.isdigit() else str(uuid.UUID(key))


def stored(searcher: tantivy.Searcher, address: Any) -> tuple[str, bytes]:
    """A document's point key and raw payload JSON."""
    doc = searcher.doc(address)
    return doc.get_first(ID), doc.get_first(PAYLOAD)


# -- generations ------------------------------------------------------------------------------

def live_generation(collection_dir: Path) -> Path | None:
    try:
        return collection_dir / (collection_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None


def new_generation(collection_dir: Path) -> Path:
    return collection_dir / f"g-{uuid.uuid4().hex[:12]}"


def publish(generation: Path) -> None:
    """Make `generation` the live index of its collection (atomically, durably), then drop the others."""
    atomic_write(generation.parent / CURRENT, generation.name.encode())
    discard_other_generations(generation.parent, generation)


def discard_other_generations(collection_dir: Path, keep: Path | None) -> None:
    """Remove generations that are not live: replaced ones, and builds a crash interrupted."""
    for path in collection_dir.glob("g-*"):
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)
