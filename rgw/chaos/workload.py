"""What a scenario's clients send: the points written (preload and under load) and the query pool.

Everything is derived from the sample corpus with fixed seeds and computed before the clock
starts, so embedding text costs no CPU while faults are being measured, and every run sends the
same bytes. Each query's bodies are serialised once: the gateway caches on exact request bytes,
so a repeated query is one the cache may answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from rgw.chaos.scenario import LoadSpec
from rgw.sample import DIMENSIONS, articles, embed

WITH_PAYLOAD = ["title", "topic", "lang"]
LIMIT = 10


@dataclass(frozen=True)
class Query:
    text: str
    filtered: bool  # carries a payload filter: fewer than LIMIT hits can be the whole answer
    query_body: bytes  # for POST /collections/{c}/points/query
    search_body: bytes  # for POST /gateway/collections/{c}/search (text and vector)


class Workload:
    def __init__(self, load: LoadSpec, seed: int = 7) -> None:
        self.load = load
        writes = int(load.write_rate * load.duration_s) + 1
        self.capacity = load.preload + writes * load.write_batch  # ids 0..capacity-1 may be written
        self.payloads: list[dict[str, Any]] = []
        vectors = np.empty((self.capacity, DIMENSIONS), dtype=np.float32)
        for i, article in enumerate(articles(self.capacity, seed=seed)):
            self.payloads.append({**article, "seq": i})
            vectors[i] = embed(str(article["text"]))
        # float32, as the stores keep them: what we send is exactly what a region should hold.
        self.vectors = vectors
        self.queries = _query_pool(load.queries, load.filter_share, seed)

    def point(self, i: int) -> dict[str, Any]:
        return {"id": i, "vector": self.vectors[i].tolist(), "payload": self.payloads[i]}

    def upsert_body(self, first: int, count: int) -> bytes:
        return orjson.dumps({"points": [self.point(i) for i in range(first, first + count)]})


def _query_pool(count: int, filter_share: float, seed: int) -> list[Query]:
    """Questions phrased like the articles' titles, so vector, text and lexical answers all find hits."""
    rng = random.Random(seed * 31 + 1)
    pool = []
    for i, article in enumerate(articles(count, seed=seed + 1000)):
        text = str(article["title"])
        vector = embed(text)
        query: dict[str, Any] = {"query": vector, "limit": LIMIT, "with_payload": WITH_PAYLOAD}
        search: dict[str, Any] = {"text": text, "vector": vector, "limit": LIMIT, "with_payload": WITH_PAYLOAD}
        if i < count * filter_share:
            # Conditions lexical mode evaluates too, so a filtered query loses nothing when it degrades.
            condition = {"must": [{"key": "topic", "match": {"value": article["topic"]}}]}
            if rng.random() < 0.5:
                condition["must"].append({"key": "year", "range": {"gte": 2021}})
            query["filter"] = search["filter"] = condition
        pool.append(Query(text, "filter" in query, orjson.dumps(query), orjson.dumps(search)))
    rng.shuffle(pool)
    return pool
