"""An index written before filters were pushed down (schema 1) is upgraded when opened, not lost."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import tantivy

from rgw.fallbacks.lexical import LexicalIndex
from rgw.fallbacks.lexical_collection import CURRENT
from rgw.fallbacks.lexical_text import ANALYZER, build_analyzer

OLD_GENERATION = "g-000000000001"
POINTS = {"1": {"text": "refund my order", "tag": "a"}, "2": {"text": "refund policy", "tag": "b"},
          "3": {"text": "parcel refund", "tag": "a", "n": 3}, "4": {"tag": "a"}}


def write_schema_1_index(collection_dir: Path, state_lsn: int) -> dict[int, float]:
    """What the gateway wrote before schema 2: id, text and stored payload, and a state without a schema.
    Returns the BM25 scores it gives the points holding "refund"."""
    generation = collection_dir / OLD_GENERATION
    generation.mkdir(parents=True)
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("text", tokenizer_name=ANALYZER, index_option="freq")
    builder.add_bytes_field("payload", stored=True)
    index = tantivy.Index(builder.build(), path=str(generation), reuse=False)
    index.register_tokenizer(ANALYZER, build_analyzer())
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    state = {"lsn": state_lsn, "text_field": "text", "spec": {"kind": "create", "source": {
        "vectors": {"size": 2, "distance": "Dot"}}}, "stale": None}
    for key, payload in [*POINTS.items(), ("_state", state)]:
        doc = tantivy.Document()
        doc.add_text("id", key)
        if "text" in payload and key != "_state":
            doc.add_text("text", payload["text"])
        doc.add_bytes("payload", orjson.dumps(payload))
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    (collection_dir / CURRENT).write_text(OLD_GENERATION)
    index.reload()
    searcher = index.searcher()
    hits = searcher.search(tantivy.Query.term_query(index.schema, "text", "refund", index_option="freq"), 10).hits
    return {int(searcher.doc(address).get_first("id")): score for score, address in hits}


def test_an_old_index_is_upgraded_on_open_and_answers_as_before(tmp_path: Path) -> None:
    root = tmp_path / "lexical"
    collection_dir = root / "collections" / "docs"
    scores = write_schema_1_index(collection_dir, state_lsn=7)

    index = LexicalIndex(root, lambda collection: "text")
    try:
        upgraded = (collection_dir / CURRENT).read_text()
        assert upgraded != OLD_GENERATION and not (collection_dir / OLD_GENERATION).exists()
        stats = index.stats()["docs"]
        assert (stats.documents, stats.applied_lsn, stats.stale) == (4, 7, None)
        assert dict(index.points("docs")) == {int(k): p for k, p in POINTS.items()}
        tag_a = {"must": [{"key": "tag", "match": {"value": "a"}}]}
        assert [h.id for h in index.search("docs", "refund parcel", 10, tag_a)] == [3, 1]
        assert index.coverage("docs") == pytest.approx(3 / 4)
        assert {h.id: h.score for h in index.search("docs", "refund", 10)} == scores
    finally:
        index.close()

    reopened = LexicalIndex(root, lambda collection: "text")  # upgraded once: opened as it is
    try:
        assert (collection_dir / CURRENT).read_text() == upgraded
        assert reopened.count("docs") == 4
    finally:
        reopened.close()
