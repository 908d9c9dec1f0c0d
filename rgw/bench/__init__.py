"""Benchmarks: each measures its reference (the store asked directly) in the same run."""

from __future__ import annotations

import sys


def progress(text: str) -> None:
    """One progress line on stderr, rewritten in place."""
    print(f"\r  {text}".ljust(72), end="", file=sys.stderr, flush=True)


def percentile_ms(ordered: list[float], q: float, digits: int = 3) -> float:
    """The q-quantile (0..1) of sorted latencies in seconds, in milliseconds."""
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, digits)
