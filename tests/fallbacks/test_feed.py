"""The feeder: journal to lexical index as writes come, resuming where it stopped, rebuilds swapped in."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from rgw.fallbacks.lexical import LexicalDeclined, LexicalIndex
from rgw.fallbacks.lexical_feed import CONSUMER, LexicalFeeder
from rgw.journal.log import Entry, SqliteJournal, journal_path
from tests.fallbacks.helpers import Collection


class RecordingJournal(SqliteJournal):
    """A real journal that remembers where each read started."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads_after: list[int] = []

    async def read(self, after: int, limit: int) -> list[Entry]:
        self.reads_after.append(after)
        return await super().read(after, limit)


def found(docs: Collection, text: str, pid: int) -> bool:
    try:
        return docs.ids(text) == [pid]
    except LexicalDeclined:  # the collection's creation is not applied yet
        return False


def open_index(tmp_path: Path) -> LexicalIndex:
    return LexicalIndex(tmp_path / "lexical", lambda collection: "text")


# The README promises "about a second"; this allows a loaded 2-core machine several times that, so a
# failure means the feeder stalled, not that it was slow. How fast it is belongs in a benchmark.
SEARCHABLE_WITHIN_S = 5.0


async def test_each_write_becomes_searchable_without_a_rebuild(docs: Collection, fed: LexicalFeeder) -> None:
    for i in range(5):
        await docs.upsert({i: {"text": f"fresh word{i}"}})
        acknowledged = time.monotonic()
        while not found(docs, f"word{i}", i):
            assert time.monotonic() - acknowledged < SEARCHABLE_WITHIN_S, f"write {i} never became searchable"
            await asyncio.sleep(0.005)
    assert await fed.wait_applied(docs.journal.head, SEARCHABLE_WITHIN_S)
    assert fed.lag_entries() == 0
    assert fed.lag_seconds() == 0.0
    await fed.stop()
    assert docs.journal.cursor(CONSUMER) == docs.journal.head


async def test_a_restarted_feeder_resumes_from_its_cursor(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "gateway")
    journal = RecordingJournal(path)
    index = open_index(tmp_path)
    docs = Collection(journal, index)
    await docs.create()
    await docs.upsert({i: {"text": f"before restart {i}"} for i in range(50)})
    feeder = LexicalFeeder(journal, index)
    feeder.start()
    assert await feeder.wait_applied(journal.head, 5.0)
    await feeder.stop()
    index.close()
    await journal.close()
    stopped_at = feeder.applied

    journal = RecordingJournal(path)
    index = open_index(tmp_path)
    docs = Collection(journal, index)
    feeder = LexicalFeeder(journal, index)
    assert feeder.applied == stopped_at
    feeder.start()
    entry = await docs.upsert({"0d3c1c52-77a5-4a7e-8a0b-51b0a5f3e2a1": {"text": "after restart"}})
    try:
        assert await feeder.wait_applied(entry.lsn, 5.0)
    finally:
        await feeder.stop()
    assert min(journal.reads_after) == stopped_at, "the feeder read entries it had already applied"
    assert len(docs.ids("restart")) == 51
    index.close()
    await journal.close()


async def test_the_index_position_wins_over_a_cursor_that_lags(docs: Collection) -> None:
    await docs.upsert({1: {"text": "committed"}})
    await docs.catch_up()  # committed to the index, but (as in a crash) the cursor was never saved
    await docs.journal.save_cursor(CONSUMER, 0)
    assert LexicalFeeder(docs.journal, docs.index).applied == docs.journal.head


async def test_a_rebuild_is_swapped_in_and_later_entries_applied_again(docs: Collection,
                                                                       fed: LexicalFeeder) -> None:
    first = await docs.upsert({1: {"text": "refund one"}})
    assert await fed.wait_applied(first.lsn, 5.0)  # the rebuild takes the spec from the journaled create
    # The region the rebuild reads had applied `first`; it also holds 9, written behind the gateway's back.
    staged = docs.index.build("docs", [(1, {"text": "refund one"}), (9, {"text": "refund nine"})],
                              as_of=first.lsn, spec=None)
    await docs.upsert({2: {"text": "refund two"}})
    last = await docs.write("delete", {"points": [1]})
    assert await fed.wait_applied(last.lsn, 5.0)

    await fed.install(staged)
    assert fed.applied == first.lsn
    assert await fed.wait_applied(last.lsn, 5.0)
    assert sorted(docs.ids("refund")) == [2, 9]


async def test_searches_run_safely_beside_the_writer(docs: Collection, fed: LexicalFeeder) -> None:
    await docs.upsert({0: {"text": "steady"}})
    assert await fed.wait_applied(docs.journal.head, 5.0)
    stop = threading.Event()

    counts: list[int] = []

    def search_until_stopped() -> None:
        while not stop.is_set():
            counts.append(len(docs.ids("steady", 1000, {"must": [{"key": "n", "range": {"gte": 0}}]})))

    searching = asyncio.create_task(asyncio.to_thread(search_until_stopped))
    for i in range(1, 41):
        await docs.upsert({i: {"text": "steady", "n": i}})
        await asyncio.sleep(0.002)  # spread the writes so searches interleave with their commits
    assert await fed.wait_applied(docs.journal.head, 5.0)
    deadline = time.monotonic() + 5.0
    while not counts or counts[-1] != 40:  # a search that started after the last commit
        assert time.monotonic() < deadline, f"no search saw every point: last counts {counts[-3:]}"
        await asyncio.sleep(0.01)
    stop.set()
    await searching
    assert counts == sorted(counts), "a search saw fewer points than one before it"
