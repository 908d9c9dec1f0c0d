"""The lexical index fed with journal entries as the gateway journals them: BM25 answers, writes of
every kind, filters that stay filters, honest declines, and persistence."""

from __future__ import annotations

import itertools
import math
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from rgw.fallbacks.lexical import LexicalDeclined, LexicalIndex
from rgw.journal.log import SqliteJournal
from rgw.qdrant.errors import QdrantError
from tests.fallbacks.helpers import Collection, points
from tests.qdrant.conftest import Reference


async def test_upsert_then_search_ranks_repeated_terms_higher(docs: Collection) -> None:
    await docs.upsert({
        1: {"text": "Refund my order. Refund it now, a refund is due!", "n": 1},
        2: {"text": "Where is the refund button for an order?", "n": 2},
        3: {"text": "Shipping times for parcels", "n": 3},
        4: None,  # no payload at all
        5: {"title": "no text field"},
    })
    await docs.catch_up()

    hits = docs.index.search("docs", "refunds", 10)
    assert [h.id for h in hits] == [1, 2]
    assert hits[0].score > hits[1].score > 0
    assert hits[0].payload == {"text": "Refund my order. Refund it now, a refund is due!", "n": 1}
    assert docs.index.search("docs", "refund", 10, with_payload=False)[0].payload is None
    assert docs.index.count("docs") == 5, "points without text are recorded too (for filters and deletes)"
    assert docs.ids("parcel shipping") == [3]


async def test_deletes_by_id_and_by_filter_remove_points(docs: Collection) -> None:
    await docs.upsert({i: {"text": f"common word {i}", "kind": "even" if i % 2 == 0 else "odd"} for i in range(1, 7)})
    await docs.catch_up()
    await docs.write("delete", {"points": [1]})
    await docs.write("delete", {"filter": {"must": [{"key": "kind", "match": {"value": "even"}}]}})
    await docs.catch_up()

    assert sorted(docs.ids("common")) == [3, 5]
    assert docs.index.count("docs") == 2


async def test_payload_writes_change_text_and_filter_results(docs: Collection) -> None:
    await docs.upsert({1: {"text": "alpha", "tag": "a"}, 2: {"text": "alpha beta", "tag": "a"}})
    await docs.write("set_payload", {"points": [1], "payload": {"text": "gamma"}})
    await docs.catch_up()
    assert docs.ids("alpha") == [2]
    assert docs.ids("gamma") == [1]

    await docs.write("set_payload", {"filter": {"must": [{"key": "tag", "match": {"value": "a"}}]},
                                     "payload": {"tag": "b"}})
    await docs.write("overwrite_payload", {"points": [2], "payload": {"text": "delta"}})
    await docs.catch_up()
    tag_b = {"must": [{"key": "tag", "match": {"value": "b"}}]}
    assert docs.ids("gamma delta", filter_json=tag_b) == [1]
    assert dict(docs.index.points("docs")) == {1: {"text": "gamma", "tag": "b"}, 2: {"text": "delta"}}

    await docs.write("delete_payload", {"points": [1], "keys": ["text"]})
    await docs.write("clear_payload", {"points": [2]})
    await docs.catch_up()
    assert docs.ids("gamma delta") == []
    assert dict(docs.index.points("docs")) == {1: {"tag": "b"}, 2: {}}


async def test_batches_and_writes_in_one_apply_see_each_other(docs: Collection) -> None:
    await docs.upsert({1: {"text": "first"}})
    await docs.write("batch", {"operations": [
        {"upsert": points({2: {"text": "second"}, 3: {"text": "third"}})},
        {"set_payload": {"points": [2], "payload": {"text": "second edited"}}},
        {"delete": {"points": [1]}},
        {"update_vectors": {"points": [{"id": 3, "vector": [0.1, 0.2]}]}},
    ]})
    await docs.write("create_index", {"field_name": "text", "field_schema": "keyword"})
    await docs.catch_up()  # everything above in one apply: later writes see earlier ones uncommitted

    assert dict(docs.index.points("docs")) == {2: {"text": "second edited"}, 3: {"text": "third"}}
    assert docs.ids("edited") == [2]


def _corpus(count: int) -> dict[int | str, dict[str, Any]]:
    rng = random.Random(4)
    words = ["apple", "banana", "cherry", "damson", "elder", "fig"]
    out: dict[int | str, dict[str, Any]] = {}
    for i in range(count):
        pid: int | str = str(uuid.UUID(int=rng.getrandbits(128))) if i % 9 == 4 else i
        payload: dict[str, Any] = {"text": " ".join(rng.choices(words, k=rng.randint(1, 8)))}
        for key, make in (("color", lambda: rng.choice(["red", "blue", "green", ["red", "blue"], 7])),
                          ("size", lambda: rng.choice([rng.randint(0, 10), rng.uniform(0, 10), "big"])),
                          ("tags", lambda: rng.choice([[], ["sale"], ["sale", "new"], None, "new"]))):
            if rng.random() < 0.8:
                payload[key] = make()
        out[pid] = payload
    return out


FILTERS: list[dict[str, Any]] = [
    {"must": [{"key": "color", "match": {"value": "red"}}]},
    {"should": [{"key": "color", "match": {"value": "green"}}, {"key": "size", "range": {"gte": 8}}]},
    {"must_not": [{"key": "color", "match": {"any": ["red", "blue"]}}]},
    {"must": [{"key": "color", "match": {"except": ["red"]}}]},
    {"must": [{"key": "size", "range": {"gt": 2.5, "lt": 7}}]},
    {"must": [{"is_empty": {"key": "tags"}}]},
    {"must": [{"key": "tags", "match": {"value": "sale"}}], "must_not": [{"key": "size", "range": {"lt": 3}}]},
    {"must": [{"should": [{"key": "color", "match": {"value": "blue"}}, {"is_empty": {"key": "color"}}]},
              {"must_not": [{"key": "tags", "match": {"any": ["new"]}}]}]},
]


def brute_force_bm25(texts: dict[int | str, list[str]], query: list[str]) -> dict[int | str, float]:
    """BM25 (k1 1.2, b 0.75, Lucene's IDF as Tantivy uses it) of every document holding a query term,
    computed by scanning every document: the reference the index's ranking is held to."""
    k1, b = 1.2, 0.75
    count = len(texts)
    average = sum(len(words) for words in texts.values()) / count
    scores: dict[int | str, float] = {}
    for term in dict.fromkeys(query):
        holding = [pid for pid, words in texts.items() if term in words]
        idf = math.log(1 + (count - len(holding) + 0.5) / (len(holding) + 0.5))
        for pid in holding:
            tf, length = texts[pid].count(term), len(texts[pid])
            scores[pid] = scores.get(pid, 0.0) + idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))
    return scores


# The index counts one bookkeeping document of its own in BM25's document count, which moves scores by
# well under 1% on 400 documents: ranks are compared with this tolerance.
SCORE_TOLERANCE = 0.01


def assert_ranked(got: list[int | str], scores: dict[int | str, float], limit: int) -> None:
    """`got` is a best-first top `limit` of `scores`, up to ties within SCORE_TOLERANCE."""
    assert len(got) == min(limit, len(scores)), (len(got), len(scores))
    assert len(set(got)) == len(got)
    slack = SCORE_TOLERANCE * max(scores.values(), default=0.0)
    for better, worse in itertools.pairwise(got):
        assert scores[better] >= scores[worse] - slack, (better, worse)
    left_out = [scores[pid] for pid in scores if pid not in got]
    if got and left_out:
        assert min(scores[pid] for pid in got) >= max(left_out) - slack


async def test_filtered_search_equals_brute_force_over_the_same_payloads(docs: Collection,
                                                                         reference: Reference) -> None:
    corpus = _corpus(400)
    await docs.upsert(corpus)
    await docs.catch_up()
    # The same payloads in a real region store: what each filter selects is what the store selects.
    store_collection = f"lexical_filters_{uuid.uuid4().hex[:8]}"
    reference.call("PUT", f"/collections/{store_collection}", {"vectors": {"size": 2, "distance": "Dot"}})
    reference.call("PUT", f"/collections/{store_collection}/points?wait=true", points(corpus))
    words = {pid: str(p["text"]).split() for pid, p in corpus.items()}  # lowercase fruit names: one term each
    rare = [pid for pid in corpus if "fig" in words[pid]][-3:]  # forces widening to every match
    filters = [*FILTERS, {"must": [{"has_id": rare}]}, {"must": [{"has_id": [*rare, 10_000]}], "must_not": [
        {"key": "color", "match": {"value": "red"}}]}]

    for filter_json in filters:
        in_store = reference.call("POST", f"/collections/{store_collection}/points/scroll",
                                  {"filter": filter_json, "limit": 1000, "with_payload": False})
        allowed = {point["id"] for point in in_store["points"]}
        for text in ("apple", "fig cherry"):
            scores = {pid: score for pid, score in brute_force_bm25(words, text.split()).items() if pid in allowed}
            every_match = docs.ids(text, 1000, filter_json)
            assert set(every_match) == set(scores), filter_json
            assert_ranked(every_match, scores, 1000)
            assert_ranked(docs.ids(text, 5, filter_json), scores, 5)
            assert docs.ids(text, 5, filter_json) == every_match[:5], filter_json


async def test_filters_it_cannot_evaluate_decline_naming_the_condition(docs: Collection) -> None:
    await docs.upsert({1: {"text": "refund"}})
    await docs.catch_up()
    for filter_json, named in (({"must": [{"key": "text", "match": {"text": "refund"}}]}, "filter.must[0].match"),
                               ({"should": [{"has_vector": "image"}]}, "filter.should[0]")):
        with pytest.raises(LexicalDeclined) as declined:
            docs.index.search("docs", "refund", 10, filter_json)
        assert named in declined.value.reason
    with pytest.raises(QdrantError):  # malformed: bad input, answered as a region would
        docs.index.search("docs", "refund", 10, {"must": [{"key": "text", "match": {}}]})


async def test_a_write_it_cannot_evaluate_makes_the_index_stale_until_rebuilt(docs: Collection) -> None:
    await docs.upsert({1: {"text": "refund"}, 2: {"text": "refund again"}})
    entry = await docs.write("delete", {"filter": {"must": [{"key": "text", "match": {"text": "again"}}]}})
    await docs.upsert({3: {"text": "refund later"}})
    await docs.catch_up()

    with pytest.raises(LexicalDeclined) as declined:
        docs.index.search("docs", "refund", 10)
    assert "stale" in declined.value.reason and f"lsn {entry.lsn}" in declined.value.reason
    assert docs.index.stats()["docs"].stale is not None

    docs.index.rebuild_from_points("docs", [(1, {"text": "refund"}), (3, {"text": "refund later"})],
                                   as_of=docs.journal.head)
    assert sorted(docs.ids("refund")) == [1, 3]


@pytest.mark.parametrize("text", ['refund "AND (OR', "refund:title [1 TO 5]", "refund\\", "*refund?~^2",
                                  "refund -shipping +order", "réfund ünïcode 🙂", "refund\x00"])
async def test_query_text_is_never_a_syntax_error(docs: Collection, text: str) -> None:
    await docs.upsert({1: {"text": "Refund policy"}, 2: {"text": "C++ and C# (sharp) tips"}})
    await docs.catch_up()
    assert 1 in docs.ids(text)


async def test_query_text_without_words_declines(docs: Collection) -> None:
    await docs.catch_up()
    with pytest.raises(LexicalDeclined, match="no words"):
        docs.index.search("docs", " !!! ... ??? ", 10)


async def test_collections_it_has_no_trustworthy_index_for_decline(docs: Collection) -> None:
    with pytest.raises(LexicalDeclined, match="no lexical index"):
        docs.index.search("elsewhere", "refund", 10)

    learnt = Collection(docs.journal, docs.index, "learnt")  # created behind the gateway: no create journaled
    await learnt.upsert({1: {"text": "refund"}})
    await docs.write("delete_collection")
    await docs.catch_up()
    with pytest.raises(LexicalDeclined, match="rebuild it from a region"):
        docs.index.search("learnt", "refund", 10)
    with pytest.raises(LexicalDeclined, match="no lexical index"):
        docs.index.search("docs", "refund", 10)


async def test_a_changed_text_field_declines_until_rebuilt(journal: SqliteJournal, tmp_path: Path) -> None:
    fields = {"docs": "text"}
    index = LexicalIndex(tmp_path / "lexical", fields.__getitem__)
    docs = Collection(journal, index)
    await docs.create()
    await docs.upsert({1: {"text": "refund", "body": "parcel"}})
    await docs.catch_up()
    fields["docs"] = "body"
    with pytest.raises(LexicalDeclined, match="text_field"):
        index.search("docs", "parcel", 10)
    index.rebuild_from_points("docs", index.points("docs"), as_of=journal.head)
    assert docs.ids("parcel") == [1]
    index.close()


async def test_entries_already_in_the_index_are_not_applied_again(docs: Collection) -> None:
    await docs.upsert({1: {"text": "old words"}})
    await docs.catch_up()
    await docs.write("set_payload", {"points": [1], "payload": {"text": "new words"}})
    await docs.catch_up()
    # A feeder restarted from an old cursor reads old entries again, a batch at a time: the create
    # must not wipe the index, nor the upsert bring back the old text.
    for after in range(docs.journal.head):
        docs.index.apply(await docs.journal.read(after, 1))
        assert docs.ids("old") == []
        assert docs.ids("new") == [1]


async def test_survives_reopen(docs: Collection, tmp_path: Path) -> None:
    await docs.upsert({1: {"text": "durable refund"}, "5c2b6d0e-2d4e-4f0a-9b1a-3c3d3e3f4a5b": {"text": "refund"}})
    await docs.catch_up()
    before = docs.index.stats()
    docs.index.close()

    reopened = LexicalIndex(tmp_path / "lexical", lambda collection: "text")
    try:
        assert reopened.stats() == before
        assert reopened.applied_lsn == docs.journal.head
        assert {h.id for h in reopened.search("docs", "refund", 10)} == {1, "5c2b6d0e-2d4e-4f0a-9b1a-3c3d3e3f4a5b"}
        docs.index = reopened
        await docs.upsert({2: {"text": "refund after restart"}})
        await docs.catch_up()
        assert len(docs.ids("refund")) == 3
    finally:
        reopened.close()


async def test_entries_trimmed_from_the_journal_unread_make_the_index_stale(docs: Collection) -> None:
    await docs.upsert({1: {"text": "refund"}})
    await docs.catch_up()
    for i in range(2, 6):
        await docs.upsert({i: {"text": "missed"}})
    await docs.journal.trim(docs.journal.head - 1)  # the lexical index never read most of them
    await docs.catch_up()
    with pytest.raises(LexicalDeclined, match="trimmed"):
        docs.index.search("docs", "refund", 10)
