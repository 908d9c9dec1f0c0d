"""Collection snapshots on disk: creating, listing, finding and deleting them, and recovering a
collection from one.

Files live where Qdrant keeps them, `DATA/snapshots/<collection>/<collection>-<UTC time>.snapshot`,
each beside a `<name>.checksum` holding its sha256 (as Qdrant does). Snapshots outlive their
collection, as in Qdrant. Everything temporary is made in `DATA/staging/`, which startup empties,
and a snapshot appears in its directory only once complete (by rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from rgw.durable import fsync_dir, fsync_tree, sha256_file
from rgw.qdrant.errors import BadRequest, NotFound
from rgw.store import archive
from rgw.store.collection import Collection
from rgw.store.optimize import IndexBuilder
from rgw.store.registry import Registry, check_name

SUFFIX = ".snapshot"
CHECKSUM_SUFFIX = ".checksum"


def snapshot_missing(name: str) -> NotFound:
    return NotFound(f"Snapshot {name} not found")


@dataclass(eq=False)
class Snapshots:
    root: Path  # DATA/snapshots
    registry: Registry
    builder: IndexBuilder
    log: logging.Logger
    _reserved: set[Path] = field(default_factory=set)  # names being written right now

    def workspace(self) -> Path:
        """A new private directory in staging (emptied at startup, so a crash leaves nothing)."""
        self.registry.names()  # 503 while the store is still loading (staging may not exist yet)
        work = self.registry.staging_dir / uuid.uuid4().hex
        work.mkdir(parents=True)
        return work

    # -- files ----------------------------------------------------------------------------------

    def directory(self, collection: str) -> Path:
        return self.root / collection

    def path(self, collection: str, name: str) -> Path:
        """The file of snapshot `name`; refuses names that could reach outside the directory."""
        if (not name.endswith(SUFFIX) or name.startswith(".") or "/" in name or "\\" in name
                or "\0" in name or len(name.encode()) > 255):
            raise BadRequest(f"Bad request: invalid snapshot name `{name}`")
        path = self.directory(collection) / name
        if not path.is_file():
            raise snapshot_missing(name)
        return path

    def describe(self, path: Path) -> dict[str, Any]:
        """Qdrant's SnapshotDescription."""
        stat = path.stat()
        created = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        checksum_file = path.with_name(path.name + CHECKSUM_SUFFIX)
        checksum = checksum_file.read_text().strip() if checksum_file.is_file() else None
        return {"name": path.name, "creation_time": created, "size": stat.st_size, "checksum": checksum}

    def list(self, collection: str) -> list[dict[str, Any]]:
        directory = self.directory(collection)
        if not directory.is_dir():
            return []
        found = []
        for path in sorted(directory.iterdir()):
            if path.name.endswith(SUFFIX) and not path.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    found.append(self.describe(path))
        return found

    def delete(self, collection: str, name: str) -> None:
        path = self.path(collection, name)
        path.unlink()
        path.with_name(name + CHECKSUM_SUFFIX).unlink(missing_ok=True)
        fsync_dir(path.parent)

    # -- create -----------------------------------------------------------------------------------

    async def create(self, collection: Collection) -> dict[str, Any]:
        """Snapshot the collection: every write acknowledged before the call is in it.

        The write lock is held only while the live shard is flushed and copied (see
        Collection.copy_live); the archive is written from the copy in a thread.
        """
        work = self.workspace()
        try:
            # The spec as it was when the copy was taken: a vector added or removed since must
            # not make the two disagree.
            specs = []
            await collection.copy_live(work / "shard", then=lambda: specs.append(collection.spec))
            with self._reserve(collection.name) as final:
                packed = work / "snapshot.tmp"
                checksum = await asyncio.to_thread(archive.pack, specs[0].source, work / "shard",
                                                   packed, collection.name)
                await asyncio.to_thread(_publish, packed, final, checksum)
            self.log.info("snapshot %s of collection %s created", final.name, collection.name)
            return self.describe(final)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)

    @contextlib.contextmanager
    def _reserve(self, collection: str) -> Iterator[Path]:
        """A free snapshot name, Qdrant-style `<collection>-<YYYY-MM-DD-HH-MM-SS>.snapshot`, with a
        counter when one second sees several."""
        directory = self.directory(collection)
        directory.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")
        path, n = directory / f"{collection}-{stamp}{SUFFIX}", 1
        while path in self._reserved or path.exists():
            n += 1
            path = directory / f"{collection}-{stamp}-{n}{SUFFIX}"
        self._reserved.add(path)
        try:
            yield path
        finally:
            self._reserved.discard(path)

    # -- recover ----------------------------------------------------------------------------------

    async def recover(self, name: str, obtain: Callable[[Path], Awaitable[Path | None]], checksum: str | None) -> None:
        """Recover collection `name` from a snapshot, replacing it if it exists.

        `obtain(path)` (a coroutine function) puts the snapshot file at `path`, or returns the path
        of an existing local file to read instead. The snapshot is checked and unpacked in staging;
        nothing changes unless all of it is sound.
        """
        check_name(name)
        work = self.workspace()
        try:
            source = await obtain(work / "incoming.snapshot") or work / "incoming.snapshot"
            if checksum is not None:
                actual = await asyncio.to_thread(sha256_file, source)
                if actual != checksum.strip().lower():
                    raise BadRequest(f"Bad request: Snapshot checksum mismatch: expected {checksum}, got {actual}")
            staged = work / "collection"
            _, manifest = await asyncio.to_thread(archive.unpack, source, staged)
            await asyncio.to_thread(_check_shard, staged / archive.SHARD_MEMBER)
            await asyncio.to_thread(fsync_tree, staged)  # before writes to `name` stop, not while
            await self.registry.replace(name, staged, staged / archive.SHARD_MEMBER, self._retire)
            self.log.info("collection %s recovered from a snapshot of %s taken %s", name,
                          manifest.get("collection"), manifest.get("created"))
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        self.builder.poke()

    async def _retire(self, old: Collection) -> None:
        await old.stop_writes()
        await self.builder.halt(old)


def _publish(packed: Path, final: Path, checksum: str) -> None:
    """Checksum file first, then the snapshot by rename: a listed snapshot always has both."""
    tmp = final.with_name(f".{final.name}{CHECKSUM_SUFFIX}.tmp")
    with open(tmp, "w") as f:
        f.write(checksum)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final.with_name(final.name + CHECKSUM_SUFFIX))
    os.replace(packed, final)
    fsync_dir(final.parent)


def _check_shard(path: Path) -> None:
    """The engine must be able to open the unpacked shard (it replays its WAL doing so)."""
    try:
        shard = qe.EdgeShard.load(str(path))
        shard.info()
        shard.close()
    except BaseException as exc:
        # pyo3 raises a Rust panic as PanicException, a BaseException; let exits and cancels pass.
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise archive.InvalidSnapshot(f"the engine cannot open its shard ({exc})") from None
