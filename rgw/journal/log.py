"""The durable write journal: every acknowledged write, in LSN order.

Embedded default: SQLite in WAL mode with `synchronous=FULL`, so a commit is fsynced before
it returns. Writers never wait for one fsync each: appends queue up while a commit is in
flight and the next commit takes them all (group commit). Recent entries also stay in memory
so appliers that keep up never read the disk.

A shared log (Postgres, Kafka) for several gateway replicas would implement `Journal`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

JOURNAL_FILE = "journal.sqlite3"  # inside the gateway's data_dir


def journal_path(data_dir: Path) -> Path:
    return data_dir / JOURNAL_FILE


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled write: replayable as the HTTP request it was (Qdrant REST)."""

    lsn: int
    at: float  # wall-clock seconds when it was journaled
    collection: str
    op: str  # e.g. "upsert", "delete", "set_payload", "create_collection"
    method: str
    path: str
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + len(self.path) + 64


@dataclass(frozen=True, slots=True)
class Pending:
    """A write validated and ready to be journaled; the journal gives it its LSN."""

    collection: str
    op: str
    method: str
    path: str
    body: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    region: str
    lsn: int
    at: float
    error: str


class Journal(Protocol):
    """What the gateway needs from a write log, whatever engine keeps it."""

    head: int  # LSN of the newest entry, 0 when empty
    oldest: int  # LSN of the oldest retained entry (head + 1 when none is retained)

    async def append(self, item: Pending) -> Entry: ...
    async def read(self, after: int, limit: int) -> list[Entry]: ...
    async def read_ops(self, ops: tuple[str, ...], after: int) -> list[Entry]: ...
    async def wait_beyond(self, lsn: int, timeout: float) -> bool: ...
    async def save_cursor(self, consumer: str, lsn: int) -> None: ...
    def cursor(self, consumer: str) -> int: ...
    def cursors(self, prefix: str) -> dict[str, int]: ...
    async def drop_cursor(self, consumer: str) -> None: ...
    async def add_dead_letter(self, letter: DeadLetter) -> None: ...
    def dead_letters(self, region: str | None = None) -> list[DeadLetter]: ...
    async def drop_dead_letters(self, region: str, lsns: set[int]) -> None: ...
    async def trim(self, below: int) -> int: ...
    def stats(self) -> dict[str, float | int]: ...
    def entry_time(self, lsn: int) -> float | None: ...
    async def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    lsn INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    collection TEXT NOT NULL,
    op TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_op ON entries (op, lsn);
CREATE TABLE IF NOT EXISTS cursors (consumer TEXT PRIMARY KEY, lsn INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    region TEXT NOT NULL, lsn INTEGER NOT NULL, at REAL NOT NULL, error TEXT NOT NULL,
    PRIMARY KEY (region, lsn)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SqliteJournal:
    """`Journal` on SQLite. One thread owns the writing connection; another serves reads."""

    def __init__(self, path: Path, memory_entries: int = 20_000, memory_bytes: int = 256 << 20) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="journal-writer")
        self._reader_thread = ThreadPoolExecutor(1, thread_name_prefix="journal-reader")
        self._local = threading.local()
        self._queue: list[tuple[Pending, asyncio.Future[Entry]]] = []
        self._committing = False
        self._committer: asyncio.Future[None] | None = None
        self._tail: deque[Entry] = deque()
        self._tail_bytes = 0
        self._memory_entries = memory_entries
        self._memory_bytes = memory_bytes
        self._grew = asyncio.Event()
        self._cursors: dict[str, int] = {}
        self._dead: list[DeadLetter] = []
        self.head = 0
        self.oldest = 1  # lowest LSN still retained (head + 1 when empty)
        self.commits = 0
        self.committed_entries = 0
        self._open()

    # -- connections -------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # fsync the WAL on every commit
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
        return conn

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            head, oldest = conn.execute("SELECT COALESCE(MAX(lsn), 0), MIN(lsn) FROM entries").fetchone()
            trimmed = conn.execute("SELECT value FROM meta WHERE key = 'trimmed_below'").fetchone()
            self.head = max(head, (trimmed[0] - 1) if trimmed else 0)
            self.oldest = oldest if oldest is not None else self.head + 1
            self._cursors = dict(conn.execute("SELECT consumer, lsn FROM cursors").fetchall())
            self._dead = [DeadLetter(*row) for row in
                          conn.execute("SELECT region, lsn, at, error FROM dead_letters ORDER BY lsn")]
        finally:
            conn.close()

    # -- appending -----------------------------------------------------------------------
    async def append(self, item: Pending) -> Entry:
        """Journal one write; returns once it is durable (fsynced), with its LSN."""
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if not self._committing:
            self._committing = True
            self._committer = asyncio.ensure_future(self._commit_loop())
        return await future

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                first = self.head + 1
                now = time.time()
                entries = [Entry(first + i, now, p.collection, p.op, p.method, p.path, p.body)
                           for i, (p, _) in enumerate(batch)]
                try:
                    await loop.run_in_executor(self._writer_thread, self._insert, entries)
                except Exception as exc:  # the disk said no: nobody in this batch is acknowledged
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(JournalUnavailable(f"journal commit failed: {exc}"))
                    continue
                self.head = entries[-1].lsn
                self.commits += 1
                self.committed_entries += len(entries)
                self._remember(entries)
                for entry, (_, future) in zip(entries, batch, strict=True):
                    if not future.done():
                        future.set_result(entry)
                self._grew.set()
                self._grew = asyncio.Event()
        finally:
            self._committing = False

    def _insert(self, entries: list[Entry]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(e.lsn, e.at, e.collection, e.op, e.method, e.path, e.body) for e in entries])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _remember(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self._tail.append(entry)
            self._tail_bytes += entry.size
        while self._tail and (len(self._tail) > self._memory_entries or self._tail_bytes > self._memory_bytes):
            self._tail_bytes -= self._tail.popleft().size

    # -- reading -------------------------------------------------------------------------
    async def read(self, after: int, limit: int) -> list[Entry]:
        """Up to `limit` entries with LSN > after, in order; from memory when they are still there."""
        if after >= self.head:
            return []
        if self._tail and self._tail[0].lsn <= after + 1:
            start = after + 1 - self._tail[0].lsn
            return [self._tail[i] for i in range(start, min(len(self._tail), start + limit))]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_thread, self._select, after, limit)

    def _select(self, after: int, limit: int) -> list[Entry]:
        rows = self._connection().execute(
            "SELECT lsn, at, collection, op, method, path, body FROM entries WHERE lsn > ? ORDER BY lsn LIMIT ?",
            (after, limit)).fetchall()
        return [Entry(*row) for row in rows]

    async def read_ops(self, ops: tuple[str, ...], after: int) -> list[Entry]:
        """Every retained entry of the given kinds with LSN > after, in order."""
        marks = ", ".join("?" * len(ops))
        sql = (f"SELECT lsn, at, collection, op, method, path, body FROM entries WHERE lsn > ? AND op IN ({marks}) "
               "ORDER BY lsn")

        def select() -> list[Entry]:
            return [Entry(*row) for row in self._connection().execute(sql, (after, *ops)).fetchall()]

        return await asyncio.get_running_loop().run_in_executor(self._reader_thread, select)

    async def wait_beyond(self, lsn: int, timeout: float) -> bool:
        """Wait until the head passes `lsn`; False if it has not within timeout seconds."""
        if self.head > lsn:
            return True
        try:
            await asyncio.wait_for(self._grew.wait(), timeout)
        except TimeoutError:
            return False
        return self.head > lsn

    def entry_time(self, lsn: int) -> float | None:
        """When entry `lsn` was journaled (None if it is not retained); from memory when it is there."""
        if self._tail and self._tail[0].lsn <= lsn <= self._tail[-1].lsn:
            return self._tail[lsn - self._tail[0].lsn].at
        row = self._connection().execute("SELECT at FROM entries WHERE lsn = ?", (lsn,)).fetchone()
        return row[0] if row else None

    # -- consumers, dead letters, retention ------------------------------------------------
    def cursor(self, consumer: str) -> int:
        return self._cursors.get(consumer, 0)

    async def save_cursor(self, consumer: str, lsn: int) -> None:
        # Cursors need no fsync of their own: replay is idempotent, so losing the last few
        # advances to a crash only means applying those entries again.
        self._cursors[consumer] = lsn
        await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._write_cursor, consumer, lsn)

    def cursors(self, prefix: str) -> dict[str, int]:
        return {name: lsn for name, lsn in self._cursors.items() if name.startswith(prefix)}

    async def drop_cursor(self, consumer: str) -> None:
        self._cursors.pop(consumer, None)
        await asyncio.get_running_loop().run_in_executor(
            self._writer_thread, lambda: self._connection().execute("DELETE FROM cursors WHERE consumer = ?",
                                                                    (consumer,)))

    def _write_cursor(self, consumer: str, lsn: int) -> None:
        self._connection().execute(
            "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(consumer) DO UPDATE SET lsn = excluded.lsn",
            (consumer, lsn))

    async def add_dead_letter(self, letter: DeadLetter) -> None:
        self._dead.append(letter)
        await asyncio.get_running_loop().run_in_executor(
            self._writer_thread, lambda: self._connection().execute(
                "INSERT OR REPLACE INTO dead_letters VALUES (?, ?, ?, ?)",
                (letter.region, letter.lsn, letter.at, letter.error)))

    def dead_letters(self, region: str | None = None) -> list[DeadLetter]:
        return [d for d in self._dead if region is None or d.region == region]

    async def drop_dead_letters(self, region: str, lsns: set[int]) -> None:
        """Forget dead letters whose effect is now in the region (it was restored or rebuilt)."""
        self._dead = [d for d in self._dead if not (d.region == region and d.lsn in lsns)]
        await asyncio.get_running_loop().run_in_executor(
            self._writer_thread, lambda: self._connection().executemany(
                "DELETE FROM dead_letters WHERE region = ? AND lsn = ?", [(region, lsn) for lsn in lsns]))

    async def trim(self, below: int) -> int:
        """Drop entries with LSN < below; returns how many went. Callers decide what is safe."""
        below = min(below, self.head + 1)
        if below <= self.oldest:
            return 0
        removed = await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._delete_below, below)
        self.oldest = below
        while self._tail and self._tail[0].lsn < below:
            self._tail_bytes -= self._tail.popleft().size
        return removed

    def _delete_below(self, below: int) -> int:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        removed = conn.execute("DELETE FROM entries WHERE lsn < ?", (below,)).rowcount
        conn.execute("INSERT INTO meta VALUES ('trimmed_below', ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                     (below, below))
        conn.execute("COMMIT")
        return removed

    def stats(self) -> dict[str, float | int]:
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())
        return {"head_lsn": self.head, "oldest_lsn": self.oldest, "entries": self.head - self.oldest + 1,
                "size_bytes": size, "commits": self.commits, "committed_entries": self.committed_entries,
                "memory_entries": len(self._tail)}

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer
        for pool in (self._writer_thread, self._reader_thread):
            pool.shutdown(wait=True)


class JournalUnavailable(Exception):
    """The journal could not make a write durable; the write is not acknowledged."""
