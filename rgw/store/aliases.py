"""The store's collection aliases (alias -> collection), kept in `DATA/aliases.json`.

The table is small and read on every request, so it lives in memory; each change rewrites the
file atomically (write, fsync, rename) before it takes effect, so a restart finds exactly the
aliases that were acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson

from rgw.durable import atomic_write


@dataclass
class Aliases:
    path: Path
    table: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, collections: set[str]) -> Aliases:
        """The saved aliases, without any whose collection is gone (deleted by a run that
        crashed before saving the aliases it dropped)."""
        table = orjson.loads(path.read_bytes()) if path.exists() else {}
        return cls(path, {alias: target for alias, target in table.items() if target in collections})

    def resolve(self, name: str) -> str | None:
        return self.table.get(name)

    def of(self, collection: str) -> list[str]:
        return sorted(alias for alias, target in self.table.items() if target == collection)

    def items(self) -> list[tuple[str, str]]:
        return sorted(self.table.items())

    def replace(self, table: dict[str, str]) -> None:
        """Make `table` the aliases, durably, before anyone sees it."""
        if table != self.table:
            atomic_write(self.path, orjson.dumps(table, option=orjson.OPT_SORT_KEYS))
            self.table = table

    def drop_collection(self, collection: str) -> None:
        self.replace({alias: target for alias, target in self.table.items() if target != collection})
