"""The journaled write path: validate, journal (durable), then acknowledge at the level asked.

A write no region could apply is refused with a 4xx and never journaled. Once journaled it is
acknowledged in Qdrant's own terms, the journal playing Qdrant's WAL:
- `acknowledged`: durable in the journal; regions will apply it (`wait=false`).
- `completed`: also applied by every region serving reads right now (`wait=true`, and always
  for collection-level operations), plus whatever the policy's `write_ack` demands.
- `wait_timeout`: durable, but those regions did not all apply it within the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from rgw.http.client import Response
from rgw.journal.log import Journal, JournalUnavailable, Pending
from rgw.journal.replication import Replication
from rgw.journal.schemas import SchemaBook, SchemasUnavailable
from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import FormatError, QdrantError, Unsupported, WrongInput, collection_missing
from rgw.qdrant.operations import Operation
from rgw.qdrant.writes import validate_write
from rgw.regions.attempts import Attempt, Mode, NoSourceAvailable, Outcome
from rgw.regions.health import HealthBook
from rgw.regions.routing import Answer
from rgw.settings.config import GatewayConfig, WriteAck

# What the journal can carry today; other writes are refused (501) before anything is journaled.
SUPPORTED = frozenset({"create_collection", "delete_collection", "create_index", "delete_index", "upsert", "delete",
                       "batch", "set_payload", "overwrite_payload", "delete_payload", "clear_payload",
                       "update_vectors", "delete_vectors"})


def _update_status(targets: list[str], confirmed: list[str]) -> str:
    """Qdrant's UpdateStatus for a journaled write, given which regions had to apply it and did."""
    if not targets:
        return "acknowledged"
    return "completed" if len(confirmed) == len(targets) else "wait_timeout"


def _json(result: Any, started: float, headers: dict[str, str]) -> Answer:
    body = orjson.dumps({"result": result, "status": "ok", "time": time.perf_counter() - started})
    return Answer("journal", Response(200, "application/json", body), Mode.NORMAL, (), headers)


class JournalWriter:
    """`Writer` that puts every write through the journal; appliers carry it to the regions."""

    def __init__(self, journal: Journal, replication: Replication, schemas: SchemaBook, book: HealthBook,
                 config: GatewayConfig, on_journaled: Callable[[str], None] | None = None) -> None:
        self._on_journaled = on_journaled  # e.g. the result cache: nothing cached is fresh after a write
        self._journal = journal
        self._replication = replication
        self._schemas = schemas
        self._book = book
        self._config = config
        self._regions = [r.name for r in config.regions]

    async def write(self, operation: Operation, collection: str, path: str, query: str, body: bytes | None) -> Answer:
        """Journal one write to `collection`; `path` is what regions are sent (percent-encoded, no query)."""
        started = time.perf_counter()
        op = operation.journal_op
        if op not in SUPPORTED:
            raise Unsupported(f"{operation.id} (journaling it is not supported yet)", by="the gateway")
        params = parse_qs(query)
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as exc:
            raise FormatError("", str(exc)) from exc
        try:
            spec = await self._check(op, collection, parsed)
        except SchemasUnavailable as exc:
            raise NoSourceAvailable([Attempt("schema", Outcome.SKIPPED,
                                             f"no region could describe `{collection}`: {exc}")]) from exc
        if op == "delete_collection" and spec is None:
            return _json(False, started, {})  # as Qdrant: deleting what is not there is not an error
        try:
            entry = await self._journal.append(Pending(collection, op, operation.method, path, body or b""))
        except JournalUnavailable as exc:
            raise NoSourceAvailable([Attempt("journal", Outcome.SKIPPED, str(exc))]) from exc
        if self._on_journaled is not None:
            self._on_journaled(collection)
        if op == "create_collection":
            assert isinstance(spec, CollectionSpec)
            self._schemas.created(collection, spec)
        elif op == "delete_collection":
            self._schemas.deleted(collection)
            self._book.collection_dropped(collection)

        visible = operation.schema_change or params.get("wait", ["false"])[0].lower() == "true"
        timeout = self._config.routing.write_timeout_s
        if "timeout" in params and params["timeout"][0].isascii() and params["timeout"][0].isdigit():
            timeout = min(timeout, float(params["timeout"][0]))
        required = self._policy_targets(collection)
        targets, confirmed = await self._await_applied(entry.lsn, required, visible, timeout)
        self._raise_if_rejected(entry.lsn, targets)
        if op == "create_collection":
            for region in confirmed:
                self._book.collection_present(region, collection)
        if visible:
            self._replication.mark_visible(collection, entry.lsn)
        headers = {"X-Gateway-LSN": str(entry.lsn), "X-Gateway-Ack": ",".join(["journal", *confirmed])}
        if op in ("create_collection", "delete_collection"):
            return _json(True, started, headers)
        return _json({"operation_id": entry.lsn, "status": _update_status(targets, confirmed)}, started, headers)

    async def _check(self, op: str, collection: str, parsed: Any) -> CollectionSpec | None:
        """Refuse what no region could apply; returns the collection's spec (the new one for a create)."""
        if op == "update_collection":
            raise Unsupported("PATCH /collections/{name} (journaling collection updates is not supported yet)",
                              by="the gateway")
        existing = await self._schemas.get(collection)
        if op == "create_collection":
            if existing is not None:
                raise WrongInput(f"Collection `{collection}` already exists!")
            return CollectionSpec.parse(parsed)
        if op == "delete_collection":
            return existing
        if existing is None:
            raise collection_missing(collection)
        validate_write(op, parsed, existing)
        return existing

    def _raise_if_rejected(self, lsn: int, targets: list[str]) -> None:
        """A write a region refused is answered with that refusal, in Qdrant's terms, not as completed."""
        rejections = {r: why for r in targets if (why := self._replication.rejection(r, lsn)) is not None}
        if not rejections:
            return
        why = next(iter(rejections.values()))
        applied = [r for r in targets if r not in rejections]
        detail = why.message if not applied else (
            f"{why.message} (rejected by {', '.join(rejections)}; applied by {', '.join(applied)}, which now "
            "differ: see rgw status and rgw verify)")
        refusal = QdrantError(detail)
        refusal.status = why.status
        raise refusal

    def _policy_targets(self, collection: str) -> set[str]:
        """Regions the collection's `write_ack` policy says must apply a write before it is answered."""
        write_ack = self._config.policies.for_collection(collection).write_ack
        if write_ack is WriteAck.PRIMARY:
            return {self._regions[0]}
        return set(self._regions) if write_ack is WriteAck.ALL else set()

    async def _await_applied(self, lsn: int, required: set[str], visible: bool,
                             timeout: float) -> tuple[list[str], list[str]]:
        """Wait for the regions this write must reach; returns (targets, those that applied it).

        For visibility (`wait=true`) the targets are the regions serving reads; one that stops
        serving while we wait (killed, hung) stops holding the answer up: reads will not go there,
        and it is ranked as stale until it catches up. Regions the policy requires always count.
        """
        def serving(region: str) -> bool:
            return self._book.regions[region].usable(time.monotonic())

        pending = required | ({r for r in self._regions if serving(r)} if visible else set())
        targets = set(pending)
        confirmed: list[str] = []
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            step = min(0.1, deadline - time.monotonic())
            applied = await self._replication.wait_applied(sorted(pending), lsn, step)
            confirmed += applied
            pending -= set(applied)
            dropped = {r for r in pending if r not in required and not serving(r)}
            pending -= dropped
            targets -= dropped
        ordered = [r for r in self._regions if r in targets]
        return ordered, [r for r in self._regions if r in confirmed]
