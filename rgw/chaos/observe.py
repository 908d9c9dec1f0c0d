"""Samples of `GET /gateway/status` over a run: journal head, what each region applied, lexical lag.

Recovery (a region caught up) and convergence (every region and the lexical index at the head)
are read from these samples; the timeline plot shows the lag they record.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp
import orjson

from rgw.chaos.load import Clock

INTERVAL_S = 0.25  # recovery and convergence times are measured to this resolution


@dataclass(frozen=True, slots=True)
class StatusSample:
    t: float
    head: int
    applied: dict[str, int]  # region -> applied LSN
    states: dict[str, str]  # region -> the gateway's view: healthy, unhealthy, ejected...
    lexical_lag: int

    def lag(self, region: str) -> int:
        return max(0, self.head - self.applied[region])

    @property
    def converged(self) -> bool:
        return all(a >= self.head for a in self.applied.values()) and self.lexical_lag == 0


def parse_status(t: float, status: dict) -> StatusSample:
    regions = status["regions"]
    return StatusSample(t, int(status["journal"]["head_lsn"]),
                        {r["name"]: int(r["replication"]["applied_lsn"]) for r in regions},
                        {r["name"]: str(r["state"]) for r in regions}, int(status["lexical"]["lag_entries"]))


class StatusPoller:
    """Polls the gateway's status every INTERVAL_S until stopped; a gateway that is down gives no sample."""

    def __init__(self, url: str, clock: Clock, headers: dict[str, str] | None = None) -> None:
        self._url = f"{url}/gateway/status"
        self._headers = headers or {}  # a read credential, when the gateway has [auth]
        self._clock = clock
        self.samples: list[StatusSample] = []
        self._stop = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    async def sample(self) -> StatusSample | None:
        assert self._session is not None
        try:
            async with self._session.get(self._url) as resp:
                if resp.status != 200:
                    return None
                sample = parse_status(self._clock.now(), orjson.loads(await resp.read()))
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers) as self._session:
            while not self._stop.is_set():
                await self.sample()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), INTERVAL_S)

    def stop(self) -> None:
        self._stop.set()

    async def wait_converged(self, timeout: float) -> StatusSample | None:
        """Sample until regions and the lexical index have applied the head; None after timeout."""
        deadline = self._clock.now() + timeout
        while self._clock.now() < deadline:
            latest = self.samples[-1] if self.samples else None
            if latest is not None and latest.converged and latest.t >= deadline - timeout:
                return latest
            await asyncio.sleep(0.1)
        return None
