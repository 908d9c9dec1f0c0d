"""The collections on disk: loading them at startup, creating and deleting them crash-safely.

A collection is built in `DATA/staging/` and published into `DATA/collections/` by one rename;
deletion renames it into `DATA/trash/` before removing it. A crash at any point leaves either
the whole collection or none of it; startup empties staging and trash.

Replacing a collection (snapshot recovery) cannot be one rename, since rename does not replace a
non-empty directory. The complete new directory is first renamed into `DATA/replacing/<name>`:
that is the commit point. Then the old directory goes to trash and the new one into place; startup
finishes any replacement a crash interrupted, so a crash leaves the old collection or the new one.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rgw.durable import publish_dir, rename_durably
from rgw.qdrant.aliases import AliasAction, apply_alias_changes
from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import BadRequest, WrongInput, collection_missing
from rgw.store.aliases import Aliases
from rgw.store.collection import Collection
from rgw.store.errors import Unavailable

# Characters Qdrant refuses in collection names (they are also unsafe as directory names).
_FORBIDDEN = set('<>:"/\\|?*\0')


def check_name(name: str) -> None:
    if not 1 <= len(name.encode()) <= 255 or name in (".", ".."):
        raise BadRequest(f"Validation error in path parameters: [name: invalid collection name `{name}`]")
    if bad := sorted(_FORBIDDEN.intersection(name)):
        raise BadRequest(f"Validation error in path parameters: [name: collection name cannot contain "
                         f"{' '.join(repr(c) for c in bad)}]")


@dataclass(eq=False)
class Registry:
    data_dir: Path
    log: logging.Logger
    ready: bool = False
    _collections: dict[str, Collection] = field(default_factory=dict)
    _aliases: Aliases | None = None  # loaded with the collections
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one create/delete/alias change at a time

    @property
    def collections_dir(self) -> Path:
        return self.data_dir / "collections"

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def trash_dir(self) -> Path:
        return self.data_dir / "trash"

    @property
    def replacing_dir(self) -> Path:
        return self.data_dir / "replacing"

    async def load(self) -> None:
        """Open every published collection; a broken one is logged and skipped, not fatal."""
        for path in (self.collections_dir, self.staging_dir, self.trash_dir, self.replacing_dir):
            path.mkdir(parents=True, exist_ok=True)
        for pending in sorted(self.replacing_dir.iterdir()):
            self.log.info("finishing the replacement of collection %s interrupted by a crash", pending.name)
            await asyncio.to_thread(self._swap_in, pending.name)
        await asyncio.to_thread(_empty, self.staging_dir)
        await asyncio.to_thread(_empty, self.trash_dir)
        for path in sorted(self.collections_dir.iterdir()):
            try:
                self._collections[path.name] = await asyncio.to_thread(Collection.open, path)
            except Exception:
                self.log.exception("collection %s could not be loaded; not serving it", path.name)
        self._aliases = Aliases.load(self.data_dir / "aliases.json", set(self._collections))
        self.ready = True

    def __iter__(self) -> Iterator[Collection]:
        return iter(list(self._collections.values()))

    def names(self) -> list[str]:
        self._check_ready()
        return sorted(self._collections)

    def exists(self, name: str) -> bool:
        """A collection, or an alias of one, has this name."""
        self._check_ready()
        return self._resolve(name) in self._collections

    def get(self, name: str) -> Collection:
        """The collection called `name`, or the one alias `name` points at."""
        self._check_ready()
        collection = self._collections.get(self._resolve(name))
        if collection is None:
            raise collection_missing(name)
        return collection

    def _resolve(self, name: str) -> str:
        assert self._aliases is not None
        return self._aliases.resolve(name) or name

    # -- aliases ------------------------------------------------------------------------------

    def aliases(self, collection: str | None = None) -> list[tuple[str, str]]:
        """(alias, collection) pairs, of one collection or of all."""
        self._check_ready()
        assert self._aliases is not None
        if collection is None:
            return self._aliases.items()
        return [(alias, collection) for alias in self._aliases.of(collection)]

    async def change_aliases(self, actions: tuple[AliasAction, ...]) -> None:
        """Apply alias actions all together or not at all, as Qdrant does."""
        self._check_ready()
        for action in actions:
            for name in vars(action).values():
                check_name(name)
        async with self._lock:
            assert self._aliases is not None
            table = apply_alias_changes(self._aliases.table, actions, lambda name: name in self._collections)
            await asyncio.to_thread(self._aliases.replace, table)

    def _check_ready(self) -> None:
        if not self.ready:
            raise Unavailable("Service unavailable: the region store is still loading its collections")

    async def create(self, name: str, spec: CollectionSpec) -> None:
        check_name(name)
        self._check_ready()
        async with self._lock:
            if name in self._collections:
                raise WrongInput(f"Collection `{name}` already exists!")
            if self._resolve(name) != name:
                raise WrongInput(f"Can't create collection with name {name}. Alias with the same name already exists")
            staging = self.staging_dir / uuid.uuid4().hex
            final = self.collections_dir / name
            try:
                await asyncio.to_thread(Collection.initialise, staging, spec)
                await asyncio.to_thread(publish_dir, staging, final)
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)
            self._collections[name] = await asyncio.to_thread(Collection.open, final)

    async def delete(self, name: str) -> bool:
        """Remove a collection; False when there was none (Qdrant answers `false`, not 404)."""
        self._check_ready()
        async with self._lock:
            if name not in self._collections:
                return False
            assert self._aliases is not None
            await asyncio.to_thread(self._aliases.drop_collection, name)  # as Qdrant: its aliases go first
            collection = self._collections.pop(name)
            await collection.close()
            doomed = self.trash_dir / uuid.uuid4().hex
            await asyncio.to_thread(rename_durably, collection.root, doomed)
            await asyncio.to_thread(shutil.rmtree, doomed, True)
            return True

    async def replace(self, name: str, staged: Path, shard: Path,
                      retire: Callable[[Collection], Awaitable[None]]) -> None:
        """Publish `staged` (collection.json, and the shard in `shard`) as collection `name`,
        replacing an existing one or creating it.

        `retire` stops writes to and index builds of the old collection; reads keep going to it
        until the new one is open, so a reader sees the old collection or the new one, never none.
        """
        check_name(name)
        self._check_ready()
        async with self._lock:
            name = self._resolve(name)  # recovering through an alias replaces its collection
            old = self._collections.get(name)
            generation, next_op_id = 1, 0
            try:
                if old is not None:
                    await retire(old)
                    # A new generation number: the old engine, closed below, must not find its
                    # own paths inside the new directory.
                    generation, next_op_id = old.generation + 1, old.op_ids.next_id
                await asyncio.to_thread(Collection.assemble, staged, shard, generation, next_op_id)
                await asyncio.to_thread(publish_dir, staged, self.replacing_dir / name)
            except Exception:
                if old is not None:
                    old.closed = False  # nothing was published: the old collection stays as it was
                raise
            doomed = await asyncio.to_thread(self._swap_in, name)
            try:
                self._collections[name] = await asyncio.to_thread(Collection.open, self.collections_dir / name)
            except Exception:
                self._collections.pop(name, None)  # published but unloadable: as after a restart
                raise
            finally:
                if old is not None:
                    old.discard()
        if doomed is not None:
            await asyncio.to_thread(shutil.rmtree, doomed, True)

    def _swap_in(self, name: str) -> Path | None:
        """Move the old collection `name` (if any) to trash and `replacing/<name>` into its place;
        returns where the old one went. Idempotent after a crash part way through."""
        final, doomed = self.collections_dir / name, None
        if final.exists():
            doomed = self.trash_dir / uuid.uuid4().hex
            rename_durably(final, doomed)
        rename_durably(self.replacing_dir / name, final)
        return doomed

    async def settled(self, name: str) -> Collection | None:
        """Collection `name` once no create, delete or replacement is under way."""
        async with self._lock:
            return self._collections.get(name)

    async def close(self) -> None:
        for collection in self:
            await collection.close()


def _empty(path: Path) -> None:
    for child in path.iterdir():
        shutil.rmtree(child, ignore_errors=True)
