"""Fault specifications for the TCP fault proxy: what each fault is, and checks that it makes sense.

Specs are frozen dataclasses validated at construction, so a bad value fails where it is written
(with a ValueError naming the field) and never halfway through a game day. What a fault does to a
connection lives in effects.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from enum import StrEnum
from typing import ClassVar

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Direction(StrEnum):
    """Which way a fault acts: upstream is client -> backend, downstream is backend -> client."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"

    def covers(self, way: Direction) -> bool:
        return self is Direction.BOTH or self is way


def check_name(field: str, value: object) -> str:
    """Names travel in URL paths and CLI arguments, so keep them to a safe alphabet."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{field}: must be 1-64 characters of letters, digits, '_', '.', '-' "
                         f"starting with a letter or digit, got {value!r}")
    return value


def _check_number(field: str, value: object, *, low: float, high: float = math.inf,
                  low_open: bool = False, integer: bool = False) -> None:
    what = "an integer" if integer else "a number"
    wanted = int if integer else (int, float)
    # bool is an int subclass; `true` for a latency is a mistake, not 1 ms.
    if isinstance(value, bool) or not isinstance(value, wanted) or not math.isfinite(value):
        raise ValueError(f"{field}: must be {what}, got {value!r}")
    if (value <= low if low_open else value < low) or value > high:
        bounds = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high < math.inf else "")
        raise ValueError(f"{field}: must be {bounds}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Fault:
    """What every fault has.

    name: how to remove it (defaults to the kind); toxicity: the probability that the fault hits a
    given connection, drawn once per connection as in Toxiproxy; direction: which way data must
    flow for the fault to act on it.
    """

    kind: ClassVar[str] = ""

    name: str = ""
    toxicity: float = 1.0
    direction: Direction = Direction.DOWNSTREAM

    def __post_init__(self) -> None:
        # frozen: the one place values may be normalised is here, before anyone can see them.
        object.__setattr__(self, "name", check_name("name", self.name or self.kind))
        _check_number("toxicity", self.toxicity, low=0, high=1)
        try:
            object.__setattr__(self, "direction", Direction(self.direction))
        except ValueError:
            raise ValueError(f"direction: must be one of {', '.join(Direction)}, "
                             f"got {self.direction!r}") from None
        self.validate()

    def validate(self) -> None:
        """Check the kind's own fields; raise ValueError naming the bad one."""


@dataclass(frozen=True, kw_only=True)
class Latency(Fault):
    """Delay every chunk by latency_ms plus a uniform draw in [-jitter_ms, +jitter_ms] (never below 0)."""

    kind: ClassVar[str] = "latency"

    latency_ms: float
    jitter_ms: float = 0.0

    def validate(self) -> None:
        _check_number("latency_ms", self.latency_ms, low=0)
        _check_number("jitter_ms", self.jitter_ms, low=0)


@dataclass(frozen=True, kw_only=True)
class Bandwidth(Fault):
    """Pace data to rate_kb_s kilobytes (1000 bytes) per second, separately in each direction."""

    kind: ClassVar[str] = "bandwidth"

    rate_kb_s: float

    def validate(self) -> None:
        _check_number("rate_kb_s", self.rate_kb_s, low=0, low_open=True)


@dataclass(frozen=True, kw_only=True)
class Reset(Fault):
    """Cut the connection with a TCP RST to the client.

    When: at once (the default), after_ms after the fault hits the connection (at accept, or when
    the fault is added to an open one), or once after_bytes bytes have been forwarded in the
    directions it covers (summed). At most one of after_ms and after_bytes may be set.
    """

    kind: ClassVar[str] = "reset"

    direction: Direction = Direction.BOTH
    after_ms: float = 0.0
    after_bytes: int = 0

    def validate(self) -> None:
        _check_number("after_ms", self.after_ms, low=0)
        _check_number("after_bytes", self.after_bytes, low=0, integer=True)
        if self.after_ms and self.after_bytes:
            raise ValueError("after_bytes: give after_ms or after_bytes, not both")


@dataclass(frozen=True, kw_only=True)
class Blackhole(Fault):
    """Read and drop all data, answer nothing; close the connection after timeout_ms (0: never).

    Toxiproxy's `timeout` toxic. Connections already open stop passing data too.
    """

    kind: ClassVar[str] = "blackhole"

    direction: Direction = Direction.BOTH
    timeout_ms: float = 0.0

    def validate(self) -> None:
        _check_number("timeout_ms", self.timeout_ms, low=0)


@dataclass(frozen=True, kw_only=True)
class SlowClose(Fault):
    """When one side closes, wait delay_ms before passing the close on to the other side."""

    kind: ClassVar[str] = "slow_close"

    delay_ms: float

    def validate(self) -> None:
        _check_number("delay_ms", self.delay_ms, low=0)


@dataclass(frozen=True, kw_only=True)
class LimitData(Fault):
    """Forward exactly after_bytes bytes (summed over the directions it covers), then close with a FIN."""

    kind: ClassVar[str] = "limit_data"

    after_bytes: int

    def validate(self) -> None:
        _check_number("after_bytes", self.after_bytes, low=1, integer=True)


@dataclass(frozen=True, kw_only=True)
class Slicer(Fault):
    """Split data into pieces of average_size +/- size_variation bytes, delay_ms apart."""

    kind: ClassVar[str] = "slicer"

    average_size: int
    size_variation: int = 0
    delay_ms: float = 0.0

    def validate(self) -> None:
        _check_number("average_size", self.average_size, low=1, integer=True)
        _check_number("size_variation", self.size_variation, low=0, high=self.average_size - 1, integer=True)
        _check_number("delay_ms", self.delay_ms, low=0)


FAULT_KINDS: dict[str, type[Fault]] = {
    cls.kind: cls for cls in (Latency, Bandwidth, Reset, Blackhole, SlowClose, LimitData, Slicer)
}


def fault_from_dict(data: Mapping[str, object]) -> Fault:
    """Build a fault from JSON-like data: {"kind": "latency", "latency_ms": 200, ...}."""
    kind = data.get("kind")
    cls = FAULT_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"kind: must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
    params = {key: value for key, value in data.items() if key != "kind"}
    known = {f.name: f for f in fields(cls)}
    for key in params:
        if key not in known:
            raise ValueError(f"{key}: not a parameter of {kind} (it takes {', '.join(known)})")
    for f in known.values():
        if f.name not in params and f.default is MISSING and f.default_factory is MISSING:
            raise ValueError(f"{f.name}: required for {kind}")
    return cls(**params)


def fault_to_dict(fault: Fault) -> dict[str, object]:
    """The inverse of fault_from_dict."""
    return {"kind": fault.kind, **asdict(fault), "direction": fault.direction.value}
