"""One collection: its engine shard, write lock, operation ids and on-disk generations.

Layout of `DATA/collections/<name>/`:

    collection.json   the create body (re-parsed into a CollectionSpec on load)
    CURRENT           name of the live generation directory, switched by atomic rename
    OPS               highest reserved operation id
    VECTOR_CHANGE     present only while a vector name is added or removed (see change_vector)
    gen-000001/       the EdgeShard (engine segments + WAL)

An index build copies the live generation to the next one, indexes the copy elsewhere and swaps
it in (see optimize.py); every write made meanwhile is recorded and replayed onto the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
import qdrant_edge as qe

from rgw.durable import atomic_write, fsync_tree
from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import collection_missing
from rgw.qdrant.fields import PointId
from rgw.store import shardcopy
from rgw.store.engine_config import edge_config
from rgw.store.errors import engine_errors
from rgw.store.translate import Retrieve
from rgw.store.writes import Write, vector_write

SPEC_FILE = "collection.json"
VECTOR_CHANGE_FILE = "VECTOR_CHANGE"  # a vector name being added or removed (see change_vector)
CURRENT_FILE = "CURRENT"
OPS_FILE = "OPS"
GENERATION_PREFIX = "gen-"
# Writes replayed onto a new generation before taking the write lock for the last few.
_REPLAY_ROUNDS = 3
_CLOSE_DELAY_SECONDS = 0.05


def generation_dir(generation: int) -> str:
    return f"{GENERATION_PREFIX}{generation:06d}"


@dataclass
class OperationIds:
    """Per-collection operation ids that keep increasing across restarts, even after kill -9.

    Ids are reserved on disk a block at a time, so there is no disk write per operation; a restart
    resumes above every id ever handed out, leaving a gap.
    """

    path: Path
    next_id: int
    reserved: int
    BLOCK: ClassVar[int] = 1 << 16

    @classmethod
    def load(cls, path: Path) -> OperationIds:
        start = int(path.read_text()) if path.exists() else 0
        return cls(path, start, start)

    def take(self) -> int:
        if self.next_id >= self.reserved:
            self.reserved = self.next_id + self.BLOCK
            atomic_write(self.path, str(self.reserved).encode())
        self.next_id += 1
        return self.next_id - 1


@dataclass(eq=False)
class Snapshot:
    """A flushed copy of the live shard being indexed, and the writes the live shard took since."""

    generation: int
    path: Path
    writes: list[tuple[qe.UpdateOperation, bool]] = field(default_factory=list)  # (op, applied ok)


@dataclass(eq=False)
class Collection:
    name: str
    root: Path
    spec: CollectionSpec
    shard: qe.EdgeShard
    generation: int
    op_ids: OperationIds
    unindexed: int = 0  # points written since the last index build began
    dirty: bool = False  # written since the last flush
    closed: bool = False
    snapshot: Snapshot | None = None
    # (generation, the engine's file versions) right after that generation's last flush
    flushed_versions: tuple[int, dict[str, Any]] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # serialises writes, flushes and swaps

    # -- lifecycle ------------------------------------------------------------------------

    @staticmethod
    def initialise(root: Path, spec: CollectionSpec) -> None:
        """Write a new, empty collection into `root` (a staging directory the registry publishes)."""
        root.mkdir(parents=True)
        with engine_errors():
            shard = qe.EdgeShard.create(str(root / generation_dir(1)), edge_config(spec))
            shard.flush()
            shard.close()
        atomic_write(root / SPEC_FILE, orjson.dumps(spec.source))
        atomic_write(root / CURRENT_FILE, generation_dir(1).encode())

    @classmethod
    def open(cls, root: Path) -> Collection:
        """Load a published collection; generations other than CURRENT are leftovers of an
        interrupted index build and are removed."""
        spec = CollectionSpec.parse(orjson.loads((root / SPEC_FILE).read_bytes()))
        current = (root / CURRENT_FILE).read_text().strip()
        for stale in root.glob(f"{GENERATION_PREFIX}*"):
            if stale.name != current:
                shutil.rmtree(stale)
        with engine_errors():
            shard = qe.EdgeShard.load(str(root / current))
            _finish_vector_change(root, spec, shard)
            info = shard.info()
        collection = cls(
            name=root.name,
            root=root,
            spec=spec,
            shard=shard,
            generation=int(current.removeprefix(GENERATION_PREFIX)),
            op_ids=OperationIds.load(root / OPS_FILE),
        )
        collection.unindexed = collection._estimate_unindexed(info)
        return collection

    async def close(self) -> None:
        async with self.lock:
            if self.closed:
                return
            self.closed = True
            with engine_errors():
                self.shard.flush()
                self.shard.close()

    async def stop_writes(self) -> None:
        """Flush and refuse further writes (as if deleted) while reads go on: the collection is
        about to be replaced (snapshot recovery). `discard` finishes the job."""
        async with self.lock:
            if not self.closed:
                with engine_errors():
                    self.shard.flush()
                self.closed = True

    def discard(self) -> None:
        """Close the shard of a collection replaced after `stop_writes`; its directory has moved,
        so a failure to write anything on the way out is of no consequence."""
        with contextlib.suppress(Exception):
            self.shard.close()

    @staticmethod
    def assemble(root: Path, shard: Path, generation: int, next_op_id: int) -> None:
        """Turn `root` (holding collection.json) and a shard directory into a collection directory
        whose live generation is `generation` and whose operation ids start at `next_op_id`."""
        shard.rename(root / generation_dir(generation))
        atomic_write(root / OPS_FILE, str(next_op_id).encode())
        atomic_write(root / CURRENT_FILE, generation_dir(generation).encode())

    @property
    def live_path(self) -> Path:
        return self.root / generation_dir(self.generation)

    # -- reads (synchronous: the engine answers them in well under a millisecond or two) ---

    def retrieve(self, request: Retrieve) -> list[qe.Record]:
        return self.retrieve_raw(request.ids, request.with_payload, request.with_vector)

    def retrieve_raw(self, ids: list[PointId], with_payload: Any, with_vector: Any) -> list[qe.Record]:
        with engine_errors():
            return self.shard.retrieve(ids, with_payload, with_vector)

    def query(self, requests: list[qe.QueryRequest]) -> list[list[qe.ScoredPoint]]:
        """Run queries as one engine batch (shared pass over the segments)."""
        if not requests:
            return []
        with engine_errors():
            if len(requests) == 1:
                return [self.shard.query(requests[0])]
            return self.shard.query_batch(qe.QueryBatchRequest(requests))

    def scroll(self, request: qe.ScrollRequest) -> tuple[list[qe.Record], Any]:
        with engine_errors():
            return self.shard.scroll(request)

    def count(self, request: qe.CountRequest) -> int:
        with engine_errors():
            return self.shard.count(request)

    def facet(self, request: qe.FacetRequest) -> qe.FacetResponse:
        with engine_errors():
            return self.shard.facet(request)

    def stats(self) -> qe.ShardInfo:
        with engine_errors():
            return self.shard.info()

    @property
    def indexing(self) -> bool:
        """An index build of this collection is under way."""
        return self.snapshot is not None

    # -- writes -----------------------------------------------------------------------------

    async def write(self, writes: list[Write]) -> list[int]:
        """Apply writes in order and return their operation ids; stops at the first failure
        (earlier ones stay applied, as in Qdrant's batch update)."""
        async with self.lock:
            if self.closed:
                raise collection_missing(self.name)
            ids = []
            for write in writes:
                try:
                    with engine_errors():
                        self.shard.update(write.op)
                except Exception:
                    self._record(write.op, applied=False)
                    raise
                self._record(write.op, applied=True)
                self.unindexed += write.points
                self.dirty = True
                ids.append(self.op_ids.take())
            return ids

    async def change_vector(self, name: str, spec: CollectionSpec, write: Write) -> int:
        """Add or remove vector `name` (`write`), making `spec` the collection's; returns the
        operation id. The new spec is written before the engine changes, with a marker naming
        the vector: a crash in between leaves the marker, and `open` brings the engine in line
        with the spec (both engine operations are idempotent)."""
        async with self.lock:
            self._check_open()
            marker = self.root / VECTOR_CHANGE_FILE
            atomic_write(marker, name.encode())
            atomic_write(self.root / SPEC_FILE, orjson.dumps(spec.source))
            try:
                with engine_errors():
                    self.shard.update(write.op)
            except Exception:
                self._record(write.op, applied=False)
                atomic_write(self.root / SPEC_FILE, orjson.dumps(self.spec.source))
                marker.unlink(missing_ok=True)
                raise
            self._record(write.op, applied=True)
            self.spec, self.dirty = spec, True
            marker.unlink(missing_ok=True)
            return self.op_ids.take()

    def _record(self, op: qe.UpdateOperation, applied: bool) -> None:
        # A failed operation may still have changed part of the shard; replaying it reproduces
        # the same partial effect on the copy.
        if self.snapshot is not None:
            self.snapshot.writes.append((op, applied))

    async def flush(self) -> None:
        """Persist segments so the WAL replay after a restart stays short."""
        async with self.lock:
            if self.dirty and not self.closed:
                self._flush_locked()

    def _flush_locked(self) -> dict[str, Any]:
        """Flush (under the write lock) and return the engine's file versions at that point,
        which the next copy_live starts from (see shardcopy.py)."""
        with engine_errors():
            self.shard.flush()
            versions = self.shard.snapshot_manifest()
        self.dirty = False
        self.flushed_versions = (self.generation, versions)
        return versions

    # -- index builds (driven by optimize.IndexBuilder) --------------------------------------

    def needs_index(self, threshold: int) -> bool:
        return (not self.closed and self.snapshot is None and bool(self.spec.dense)
                and self.spec.indexing_enabled and self.unindexed >= threshold)

    def _estimate_unindexed(self, info: qe.ShardInfo) -> int:
        # The engine counts every stored vector of every name; sparse ones are always indexed.
        if not self.spec.dense:
            return 0
        stored = info.points_count * (len(self.spec.dense) + len(self.spec.sparse))
        return max(0, stored - info.indexed_vectors_count) // len(self.spec.dense)

    async def copy_live(self, dest: Path, then: Callable[[], None] | None = None) -> None:
        """Copy the live shard, flushed, to `dest` (which must not exist): the copy holds every write
        acknowledged before the call. `then` runs under the write lock right after the copy is
        complete (nothing was written since).

        The bulk of the copy is made without the lock, from the state of the last flush on; the
        lock is held to flush and bring the copy up to date (see shardcopy.py). Reads go on.
        """
        try:
            if self.flushed_versions is None or self.flushed_versions[0] != self.generation:
                async with self.lock:
                    self._check_open()
                    self._flush_locked()
            assert self.flushed_versions is not None
            generation, before = self.flushed_versions
            await asyncio.to_thread(shardcopy.precopy, self.root / generation_dir(generation), dest)
            async with self.lock:
                self._check_open()
                after = self._flush_locked()
                # An index build swapped generations meanwhile: the pre-copy is of another shard.
                trusted = before if self.generation == generation else {}
                await asyncio.to_thread(shardcopy.finish, self.live_path, dest, trusted, after)
                if then is not None:
                    then()
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, dest, True)
            raise

    def _check_open(self) -> None:
        if self.closed:
            raise collection_missing(self.name)

    async def begin_snapshot(self) -> Snapshot:
        """Copy the flushed live shard to the next generation and start recording writes."""
        snapshot = Snapshot(self.generation + 1, self.root / generation_dir(self.generation + 1))

        def start_recording() -> None:
            self.snapshot = snapshot
            self.unindexed = 0

        await self.copy_live(snapshot.path, then=start_recording)
        return snapshot

    async def adopt(self, snapshot: Snapshot) -> None:
        """Make the indexed copy live: replay the writes it missed, switch CURRENT, swap shards.

        Raises (after dropping the copy) when the collection went away or the replay failed.
        """
        try:
            with engine_errors():
                shard = await asyncio.to_thread(qe.EdgeShard.load, str(snapshot.path))
        except Exception:
            await self.abandon(snapshot)
            raise
        try:
            await asyncio.to_thread(fsync_tree, snapshot.path)
            # Most of the backlog is replayed while writes keep flowing; the lock is held only
            # for what arrived during the last round.
            replayed = 0
            for _ in range(_REPLAY_ROUNDS):
                replayed = await _catch_up(shard, snapshot.writes, replayed)
            async with self.lock:
                if self.closed:
                    raise collection_missing(self.name)
                for op, applied in snapshot.writes[replayed:]:
                    _replay(shard, op, applied)
                # No flush here: the replayed writes are in the new shard's WAL, as every write is
                # in the live one's, and the periodic flush persists them (a flush holds the GIL,
                # stalling everything, for up to ~100 ms at 100k points).
                atomic_write(self.root / CURRENT_FILE, snapshot.path.name.encode())
                old_shard, old_path = self.shard, self.live_path
                self.shard, self.generation, self.snapshot = shard, snapshot.generation, None
                self.dirty = True
        except Exception:
            with contextlib.suppress(Exception):
                shard.close()
            await self.abandon(snapshot)
            raise
        # Closing a shard holds the GIL (up to ~250 ms measured): let the writes that queued
        # behind the swap through first, so that the two pauses do not add up.
        await asyncio.sleep(_CLOSE_DELAY_SECONDS)
        with engine_errors():
            old_shard.close()
        await asyncio.to_thread(shutil.rmtree, old_path, True)

    async def abandon(self, snapshot: Snapshot) -> None:
        """Drop a copy that will not be used. Its points stay unindexed until another threshold's
        worth of writes arrives, so a build that keeps failing is not retried in a loop."""
        if self.snapshot is snapshot:
            self.snapshot = None
        await asyncio.to_thread(shutil.rmtree, snapshot.path, True)


def _finish_vector_change(root: Path, spec: CollectionSpec, shard: qe.EdgeShard) -> None:
    """Complete a vector change a crash interrupted: the spec on disk is the intended one."""
    marker = root / VECTOR_CHANGE_FILE
    if not marker.exists():
        return
    name = marker.read_bytes().decode()
    shard.update(vector_write(name, spec).op)
    shard.flush()
    marker.unlink()


async def _catch_up(shard: qe.EdgeShard, writes: list[tuple[qe.UpdateOperation, bool]], start: int) -> int:
    """Replay writes[start:] onto shard, yielding to the event loop after each (new writes may be
    appended meanwhile); returns how many writes have been replayed in total."""
    index = start
    while index < len(writes):
        _replay(shard, *writes[index])
        index += 1
        await asyncio.sleep(0)
    return index


def _replay(shard: qe.EdgeShard, op: qe.UpdateOperation, applied: bool) -> None:
    """Apply a recorded write; one that failed on the live shard may fail again, just as partially."""
    try:
        with engine_errors():
            shard.update(op)
    except Exception:
        if applied:
            raise


