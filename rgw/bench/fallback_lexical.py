"""`rgw bench fallback` (lexical part): BM25 query latency of the lexical index, beside rank-bm25.

Builds a corpus of short documents (a Zipf-distributed vocabulary: a few English function words,
then invented words), indexes it with `LexicalIndex` (bulk, as a rebuild does; and through
`apply`, as the journal feeder does), then times the same queries against the index, with and
without a payload filter. rank-bm25 scores every document for every query, so it runs on a
subset and its latency is extrapolated linearly to the full corpus (said so in the output).

Alone (without the rest of `rgw bench fallback`): `python -m rgw.bench.fallback_lexical --docs 1000000`.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from rgw.bench import percentile_ms, progress
from rgw.fallbacks.lexical import LexicalIndex
from rgw.fallbacks.lexical_text import analyzer
from rgw.journal.log import Entry
from rgw.qdrant.fields import Payload

TOPICS = ("billing", "shipping", "returns", "account", "security", "search", "pricing", "support")
FUNCTION_WORDS = ("the", "of", "and", "to", "a", "in", "is", "for", "on", "that", "with", "as", "it", "by", "this",
                  "be", "are", "from", "or", "at", "your", "you", "can", "not", "we", "an", "will", "if", "has",
                  "have", "was", "all", "more", "when", "which", "their")
ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch",
          "cl", "dr", "gr", "pl", "st", "tr", "sh", "th")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "io")
VOCABULARY = 50_000
ZIPF_EXPONENT = 1.0
WORDS_PER_DOC = (8, 32)  # short documents: titles, snippets, support answers
QUERY_RANKS = (60, 10_000)  # content words: rarer than function words, common enough to match
TEXT_FIELD = "text"
COLLECTION = "bench"
REFERENCE_DOCS = 20_000  # rank-bm25 runs on this many documents
REFERENCE_QUERIES = 200
APPLY_DOCS = 100_000  # documents indexed again through `apply`, one commit per journal entry
APPLY_BATCH = 1000  # points per journaled upsert
MAX_PHASE_S = 60.0
FILTER = {"must": [{"key": "topic", "match": {"value": "billing"}}]}  # selects 1/8 of the corpus
NARROW_FILTER = {"must": [{"key": "topic", "match": {"value": "billing"}}, {"key": "year", "range": {"gte": 2024}}]}


class Corpus:
    """Deterministic synthetic documents and queries."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.words = [*FUNCTION_WORDS, *_invented_words(VOCABULARY - len(FUNCTION_WORDS), seed)]
        weights = 1.0 / np.arange(1, len(self.words) + 1) ** ZIPF_EXPONENT
        self._cumulative = np.cumsum(weights) / weights.sum()

    def documents(self, count: int) -> Iterator[tuple[int, Payload]]:
        """(id, payload) for `count` documents: text plus topic, year and views to filter on."""
        rng = np.random.default_rng(self.seed)
        chunk = 10_000
        for start in range(0, count, chunk):
            size = min(chunk, count - start)
            lengths = rng.integers(*WORDS_PER_DOC, size=size, endpoint=True)
            ranks = np.searchsorted(self._cumulative, rng.random(int(lengths.sum())))
            topics = rng.integers(len(TOPICS), size=size)
            years = rng.integers(2015, 2025, size=size)
            views = rng.integers(10, 50_000, size=size)
            at = 0
            for i in range(size):
                words = [self.words[r] for r in ranks[at:at + lengths[i]]]
                at += lengths[i]
                yield start + i, {TEXT_FIELD: " ".join(words).capitalize() + ".", "topic": TOPICS[topics[i]],
                                  "year": int(years[i]), "views": int(views[i])}

    def queries(self, count: int) -> list[str]:
        """One to three content words each, drawn log-uniformly over QUERY_RANKS."""
        rng = random.Random(self.seed + 1)
        low, high = np.log(QUERY_RANKS[0]), np.log(QUERY_RANKS[1])
        return [" ".join(self.words[int(np.exp(rng.uniform(low, high)))] for _ in range(rng.randint(1, 3)))
                for _ in range(count)]


def _invented_words(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set(FUNCTION_WORDS)
    words = []
    while len(words) < count:
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.randint(1, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def tokens(text: str) -> list[str]:
    """The lexical index's own analysis, so rank-bm25 scores the same terms."""
    return analyzer().analyze(text)


class Reference:
    """rank-bm25 over a list of payloads, with Tantivy's BM25 parameters (k1 1.2, b 0.75)."""

    def __init__(self, documents: list[tuple[int, Payload]]) -> None:
        from rank_bm25 import BM25Okapi  # a dev dependency: importing this module must not need it

        self.ids = [pid for pid, _ in documents]
        self.bm25 = BM25Okapi([tokens(payload[TEXT_FIELD]) for _, payload in documents], k1=1.2, b=0.75)

    def top(self, query: str, limit: int) -> list[int]:
        scores = self.bm25.get_scores(tokens(query))
        best = np.argpartition(-scores, limit)[:limit]
        return [self.ids[i] for i in sorted(best, key=lambda i: -scores[i]) if scores[i] > 0]


@dataclass(frozen=True)
class Timing:
    engine: str
    documents: int
    queries: int
    p50_ms: float
    p99_ms: float
    extrapolated: bool = False


def _timed(engine: str, documents: int, queries: list[str], run: Callable[[str], Any]) -> Timing:
    latencies = []
    deadline = time.monotonic() + MAX_PHASE_S
    for query in queries:
        started = time.perf_counter()
        run(query)
        latencies.append(time.perf_counter() - started)
        if time.monotonic() > deadline:
            break
    latencies.sort()
    n = len(latencies)
    return Timing(engine, documents, n, percentile_ms(latencies, 0.5), percentile_ms(latencies, 0.99))



def _collection_entry(lsn: int, collection: str, op: str = "create_collection") -> Entry:
    body = orjson.dumps({"vectors": {"size": 1, "distance": "Dot"}}) if op == "create_collection" else b""
    return Entry(lsn, time.time(), collection, op, "PUT", f"/collections/{collection}", body)


def _upsert_entries(first_lsn: int, collection: str, documents: Iterator[tuple[int, Payload]]) -> Iterator[Entry]:
    """Journal entries as the gateway writes them: upserts of APPLY_BATCH points each."""
    for lsn in itertools.count(first_lsn):
        batch = list(itertools.islice(documents, APPLY_BATCH))
        if not batch:
            return
        body = orjson.dumps({"points": [{"id": pid, "vector": [1.0], "payload": p} for pid, p in batch]})
        yield Entry(lsn, time.time(), collection, "upsert", "PUT", f"/collections/{collection}/points", body)


def _index_bulk(index: LexicalIndex, corpus: Corpus, docs: int) -> float:
    """Points per second indexed by a rebuild (one commit at the end)."""
    index.apply([_collection_entry(1, COLLECTION)])
    started = time.perf_counter()
    index.rebuild_from_points(COLLECTION, corpus.documents(docs), lambda n: progress(f"bulk indexed {n:,}"),
                              as_of=1)
    return docs / (time.perf_counter() - started)


def _index_applied(index: LexicalIndex, corpus: Corpus, docs: int) -> float:
    """Points per second through `apply`, as the feeder applies journaled upserts (a commit per entry)."""
    collection = COLLECTION + "_applied"
    index.apply([_collection_entry(index.applied_lsn + 1, collection)])
    first = index.applied_lsn + 1
    started = time.perf_counter()
    for entry in _upsert_entries(first, collection, corpus.documents(docs)):
        index.apply([entry])
        if entry.lsn % 10 == 0:
            progress(f"applied about {(entry.lsn - first) * APPLY_BATCH:,} of {docs:,}")
    rate = docs / (time.perf_counter() - started)
    # Dropping it waits for its background merges, which would otherwise compete with the queries timed next.
    index.apply([_collection_entry(index.applied_lsn + 1, collection, "delete_collection")])
    return rate


def measure(docs: int, queries: int) -> tuple[list[Timing], dict[str, Any]]:
    corpus = Corpus()
    texts = corpus.queries(queries)
    subset = list(corpus.documents(min(docs, REFERENCE_DOCS)))
    reference = Reference(subset)
    with tempfile.TemporaryDirectory(prefix="rgw-bench-lexical-") as tmp:
        index = LexicalIndex(Path(tmp), lambda _: TEXT_FIELD)
        try:
            bulk_rate = _index_bulk(index, corpus, docs)
            applied_docs = min(docs, APPLY_DOCS)
            applied_rate = _index_applied(index, corpus, applied_docs)
            print(file=sys.stderr)
            size = index.stats()[COLLECTION].size_bytes
            timings = [
                _timed("tantivy", docs, texts, lambda q: index.search(COLLECTION, q, 10)),
                _timed("tantivy + filter 1/8", docs, texts, lambda q: index.search(COLLECTION, q, 10, FILTER)),
                _timed("tantivy + filter 1/80", docs, texts, lambda q: index.search(COLLECTION, q, 10, NARROW_FILTER)),
            ]
            index.rebuild_from_points(COLLECTION, subset, as_of=1)
            timings.append(_timed("tantivy", len(subset), texts, lambda q: index.search(COLLECTION, q, 10)))
            overlap = _overlap(index, reference, texts[:REFERENCE_QUERIES])
        finally:
            index.close()
    measured = _timed("rank-bm25", len(subset), texts[:REFERENCE_QUERIES], lambda q: reference.top(q, 10))
    timings.append(measured)
    if docs > len(subset):
        scale = docs / len(subset)  # rank-bm25 scores every document: linear in the corpus
        timings.append(Timing("rank-bm25", docs, measured.queries, round(measured.p50_ms * scale, 1),
                              round(measured.p99_ms * scale, 1), extrapolated=True))
    meta = {"documents": docs, "bulk_points_per_s": round(bulk_rate), "applied_points": applied_docs,
            "applied_points_per_s": round(applied_rate), "apply_batch": APPLY_BATCH, "index_bytes": size,
            "overlap_at_10_vs_rank_bm25": round(overlap, 3), "reference_documents": len(subset)}
    return timings, meta


def _overlap(index: LexicalIndex, reference: Reference, queries: list[str]) -> float:
    """Mean share of rank-bm25's top 10 that the lexical index also ranks in its top 10."""
    shares = []
    for query in queries:
        expected = reference.top(query, 10)
        if expected:
            got = {hit.id for hit in index.search(COLLECTION, query, 10)}
            shares.append(len(got & set(expected)) / len(expected))
    return sum(shares) / len(shares) if shares else 1.0


def render(timings: list[Timing], meta: dict[str, Any]) -> str:
    lines = [f"corpus: {meta['documents']:,} short documents (8-32 words, Zipf vocabulary of {VOCABULARY:,}); "
             f"index {meta['index_bytes'] / 2**20:.0f} MiB",
             f"indexing: {meta['bulk_points_per_s']:,} points/s bulk (rebuild), {meta['applied_points_per_s']:,} "
             f"points/s through apply ({meta['applied_points']:,} points, {meta['apply_batch']} per journaled "
             "upsert, one commit each)",
             "queries: 1-3 words, limit 10, payloads returned, one at a time, no concurrent writes",
             "", "engine                  documents  queries    p50 ms    p99 ms"]
    for t in timings:
        note = "  (extrapolated linearly from the measured subset)" if t.extrapolated else ""
        lines.append(f"{t.engine:<22} {t.documents:>10,} {t.queries:>8} {t.p50_ms:>9.3f} {t.p99_ms:>9.3f}{note}")
    by_key = {(t.engine, t.documents, t.extrapolated): t for t in timings}
    full, subset = meta["documents"], meta["reference_documents"]
    lines.append("")
    pairs = [(by_key.get(("rank-bm25", subset, False)), by_key.get(("tantivy", subset, False)), "measured")]
    if full > subset:
        pairs.append((by_key.get(("rank-bm25", full, True)), by_key.get(("tantivy", full, False)), "extrapolated"))
    for slow, fast, how in pairs:
        if slow and fast:
            lines.append(f"at {fast.documents:,} documents ({how}): rank-bm25 / tantivy = "
                         f"{slow.p50_ms / fast.p50_ms:,.0f}x at p50, {slow.p99_ms / fast.p99_ms:,.0f}x at p99")
    lines.append(f"top-10 overlap with rank-bm25 on {subset:,} documents: {meta['overlap_at_10_vs_rank_bm25']:.3f}")
    return "\n".join(lines)


def run_lexical_bench(docs: int = 1_000_000, queries: int = 1000, as_json: bool = False) -> int:
    timings, meta = measure(docs, queries)
    if as_json:
        print(orjson.dumps({"meta": meta, "timings": [asdict(t) for t in timings]},
                           option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(timings, meta))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rgw.bench.fallback_lexical",
                                     description="Lexical index speed, with and without filters, beside rank-bm25.")
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return run_lexical_bench(docs=args.docs, queries=args.queries, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
