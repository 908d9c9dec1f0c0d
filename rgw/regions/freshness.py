"""What routing needs to know about replication: how far each region has applied the journal."""

from __future__ import annotations

from typing import Protocol


class Freshness(Protocol):
    def applied(self, region: str, collection: str | None = None) -> int:
        """The LSN up to which `region` has applied every journaled write (to `collection`, when given:
        a collection held back on a region for a backup or restore trails the region's applier)."""
        ...

    def required(self, collection: str | None) -> int:
        """The LSN a region must have applied to answer reads of `collection` as fresh."""
        ...

    def staleness_s(self, region: str) -> float:
        """Seconds by which `region` trails the journal head (0 when caught up)."""
        ...

    async def wait_any(self, regions: list[str], lsn: int, timeout: float) -> bool:
        """Wait until one of `regions` has applied `lsn`; False if none has within timeout."""
        ...
