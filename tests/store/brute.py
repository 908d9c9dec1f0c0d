"""Expected answers computed by brute force over the vectors a test inserted, written from
Qdrant's documented definitions (independently of the store's code), and a tie-aware check of a
ranked answer against them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

Ranking = list[tuple[Any, float]]  # (id, score), best first


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def cosine(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    return unit(vectors) @ (query / np.linalg.norm(query))


def sparse_dot(a: Mapping[int, float], b: Mapping[int, float]) -> float:
    return float(sum(value * b[index] for index, value in a.items() if index in b))


def top(scores: Mapping[Any, float], k: int, allowed: set[Any] | None = None) -> Ranking:
    """The k best (id, score), ties broken by id (callers must not rely on the tie order)."""
    items = [(i, s) for i, s in scores.items() if allowed is None or i in allowed]
    return sorted(items, key=lambda item: (-item[1], item[0]))[:k]


def rrf(rankings: Sequence[Ranking], k: int = 2, weights: Sequence[float] | None = None) -> dict[Any, float]:
    """Reciprocal rank fusion: each list adds 1 / ((position + 1) / weight + k - 1) (0-based
    position), which is 1 / (position + k) at weight 1."""
    fused: dict[Any, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for position, (point, _) in enumerate(ranking):
            fused[point] = fused.get(point, 0.0) + 1.0 / ((position + 1) / weight + k - 1)
    return fused


def dbsf(rankings: Sequence[Ranking]) -> dict[Any, float]:
    """Distribution-based score fusion: each list's scores mapped from [mean - 3 sd, mean + 3 sd]
    (sample sd) onto [0, 1], then summed per point."""
    fused: dict[Any, float] = {}
    for ranking in rankings:
        scores = np.array([score for _, score in ranking], dtype=np.float64)
        if len(scores) == 1:
            normalised = [0.5]
        else:
            mean, sd = scores.mean(), scores.std(ddof=1)
            low, high = mean - 3 * sd, mean + 3 * sd
            normalised = [0.5] * len(scores) if high == low else list((scores - low) / (high - low))
        for (point, _), value in zip(ranking, normalised, strict=True):
            fused[point] = fused.get(point, 0.0) + float(value)
    return fused


def mmr(relevance: Mapping[Any, float], similarity: Any, lambda_: float, limit: int) -> list[Any]:
    """Maximal marginal relevance over `relevance`'s candidates: the most relevant first, then
    each time the best `lambda * relevance - (1 - lambda) * max similarity to those chosen`."""
    remaining = list(relevance)
    chosen = [max(remaining, key=lambda c: relevance[c])]
    remaining.remove(chosen[0])
    while remaining and len(chosen) < limit:
        best = max(remaining, key=lambda c: lambda_ * relevance[c]
                   - (1 - lambda_) * max(similarity(c, s) for s in chosen))
        chosen.append(best)
        remaining.remove(best)
    return chosen


def scaled_sigmoid(x: float) -> float:
    """Qdrant's fast sigmoid squeezed into (0, 1): 0.5 * (x / (1 + |x|) + 1)."""
    return 0.5 * (x / (1 + abs(x)) + 1)


def lin_decay(x: float, target: float, scale: float, midpoint: float) -> float:
    return max(0.0, 1 - (1 - midpoint) / scale * abs(x - target))


def exp_decay(x: float, target: float, scale: float, midpoint: float) -> float:
    return math.exp(math.log(midpoint) / scale * abs(x - target))


def gauss_decay(x: float, target: float, scale: float, midpoint: float) -> float:
    return math.exp(math.log(midpoint) / scale ** 2 * (x - target) ** 2)


def haversine_meters(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    radius = 6371008.8  # mean Earth radius, as the geo crate Qdrant uses
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))


def assert_ranked(found: Ranking, expected: Mapping[Any, float], limit: int, rel: float = 1e-4,
                  abs_: float = 1e-5) -> None:
    """`found` is a correct top-`limit` of `expected` (id -> score): as many points as there
    can be, each with its expected score, best first, and no point left out that scores better
    than the last one returned. Points with equal scores may come in any order."""
    assert len(found) == min(limit, len(expected)), (found, top(expected, limit))
    tolerance = max(abs_, rel * max((abs(s) for s in expected.values()), default=1.0))
    for point, score in found:
        assert point in expected, (point, found)
        assert abs(score - expected[point]) <= tolerance, (point, score, expected[point])
    scores = [score for _, score in found]
    assert all(a >= b - tolerance for a, b in pairwise(scores)), found
    if found:
        cutoff = found[-1][1]
        returned = {point for point, _ in found}
        missing = [p for p, s in expected.items() if s > cutoff + tolerance and p not in returned]
        assert not missing, (missing, found)
