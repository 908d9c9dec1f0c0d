"""Writes journaled as the gateway journals them, and a lexical index kept in step with the journal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from rgw.fallbacks.lexical import LexicalIndex
from rgw.journal.log import Entry, Pending, SqliteJournal
from rgw.qdrant.names import collection_path
from rgw.qdrant.operations import OPERATIONS, Kind

# journal op -> the operation the gateway journals it for (its method and path template)
WRITES = {op.journal_op: op for op in OPERATIONS if op.kind is Kind.WRITE}
VECTOR = [0.5, 0.5]


def journaled(collection: str, op: str, body: Any = None, field: str = "") -> Pending:
    operation = WRITES[op]
    rest = operation.template.split("/")[3:]
    path = collection_path(collection, *(field if part.startswith("{") else part for part in rest))
    return Pending(collection, op, operation.method, path, b"" if body is None else orjson.dumps(body))


def points(payloads: dict[int | str, dict[str, Any] | None]) -> dict[str, Any]:
    """An upsert body (Qdrant's PointsList) for these ids and payloads."""
    return {"points": [{"id": pid, "vector": VECTOR, **({} if p is None else {"payload": p})}
                       for pid, p in payloads.items()]}


@dataclass
class Collection:
    """One collection written through a real journal, applied to a lexical index on demand."""

    journal: SqliteJournal
    index: LexicalIndex
    name: str = "docs"

    async def write(self, op: str, body: Any = None, field: str = "") -> Entry:
        return await self.journal.append(journaled(self.name, op, body, field))

    async def create(self) -> Entry:
        return await self.write("create_collection", {"vectors": {"size": len(VECTOR), "distance": "Dot"}})

    async def upsert(self, payloads: dict[int | str, dict[str, Any] | None]) -> Entry:
        return await self.write("upsert", points(payloads))

    async def catch_up(self) -> None:
        """Apply whatever the journal holds beyond what the index has, as one batch."""
        self.index.apply(await self.journal.read(self.index.applied_lsn, 100_000))

    def ids(self, text: str, limit: int = 100, filter_json: Any = None) -> list[int | str]:
        return [hit.id for hit in self.index.search(self.name, text, limit, filter_json)]
