"""The journal itself: LSN order, group commit, persistence, retention, and durability under SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from rgw.journal.log import DeadLetter, Pending, SqliteJournal


def pending(i: int, collection: str = "docs") -> Pending:
    return Pending(collection, "upsert", "PUT", f"/collections/{collection}/points", b'{"n": %d}' % i)


async def test_concurrent_appends_get_consecutive_lsns_in_few_commits(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    entries = await asyncio.gather(*(journal.append(pending(i)) for i in range(500)))
    assert sorted(e.lsn for e in entries) == list(range(1, 501))
    assert {e.body for e in entries} == {b'{"n": %d}' % i for i in range(500)}
    assert journal.head == 500
    assert journal.commits < 50, f"{journal.commits} commits for 500 concurrent appends: no group commit"
    await journal.close()


async def test_entries_survive_reopen_and_read_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SqliteJournal(path)
    for i in range(30):
        await journal.append(pending(i, "a" if i % 2 else "b"))
    await journal.save_cursor("region:primary", 12)
    await journal.add_dead_letter(DeadLetter("primary", 7, 1.0, "HTTP 400: no"))
    await journal.close()

    reopened = SqliteJournal(path, memory_entries=0)  # nothing in memory: reads go to disk
    assert reopened.head == 30
    assert reopened.cursor("region:primary") == 12
    assert [d.lsn for d in reopened.dead_letters("primary")] == [7]
    page = await reopened.read(after=10, limit=5)
    assert [e.lsn for e in page] == [11, 12, 13, 14, 15]
    assert page[0].body == b'{"n": 10}' and page[0].collection == "b"
    creates = await reopened.read_ops(("upsert",), after=25)
    assert [e.lsn for e in creates] == [26, 27, 28, 29, 30]
    await reopened.close()


async def test_trim_drops_old_entries_but_keeps_the_head(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SqliteJournal(path)
    for i in range(20):
        await journal.append(pending(i))
    assert await journal.trim(below=15) == 14
    assert journal.stats()["oldest_lsn"] == 15
    await journal.close()
    reopened = SqliteJournal(path)
    assert (reopened.head, reopened.oldest) == (20, 15)
    entry = await reopened.append(pending(99))
    assert entry.lsn == 21  # LSNs never go back, whatever was trimmed
    await reopened.close()


async def test_trim_everything_keeps_lsns_monotonic(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = SqliteJournal(path)
    for i in range(5):
        await journal.append(pending(i))
    await journal.trim(below=6)
    await journal.close()
    reopened = SqliteJournal(path)
    assert reopened.head == 5
    assert (await reopened.append(pending(5))).lsn == 6
    await reopened.close()


APPENDER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from rgw.journal.log import Pending, SqliteJournal

    async def main():
        journal = SqliteJournal(Path(sys.argv[1]))
        async def one(i):
            entry = await journal.append(Pending("docs", "upsert", "PUT", "/p", b"body-%d" % i))
            print(entry.lsn, i, flush=True)  # acknowledged: durable from here on
        i = 0
        while True:
            await asyncio.gather(*(one(i + k) for k in range(16)))
            i += 16

    asyncio.run(main())
""")


def test_every_acknowledged_entry_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    acked: dict[int, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lsn, i = map(int, line.split())
            acked[lsn] = i
            if len(acked) >= 2000:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert len(acked) >= 2000

    async def check() -> None:
        journal = SqliteJournal(path, memory_entries=0)
        assert journal.head >= max(acked)
        entries = {e.lsn: e for e in await journal.read(after=0, limit=journal.head)}
        missing = [lsn for lsn in acked if lsn not in entries]
        assert missing == [], f"{len(missing)} acknowledged entries lost"
        assert all(entries[lsn].body == b"body-%d" % i for lsn, i in acked.items())
        await journal.close()

    asyncio.run(check())


async def test_entry_times_are_known_beyond_memory(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3", memory_entries=5)
    for i in range(20):
        await journal.append(pending(i))
    assert journal.entry_time(2) is not None  # from disk: long gone from the in-memory tail
    assert journal.entry_time(19) is not None
    assert journal.entry_time(99) is None
    await journal.close()
