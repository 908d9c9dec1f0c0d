"""`rgw bench fallback`: what degraded answers cost and how good they are.

- Cache: latency of a fresh cache hit through the gateway, beside a query the store answers.
- Quality: top-10 overlap of the lexical answer with the dense (normal-mode) answer, and of
  partial answers at several coverages with the full answer, on a real text corpus: the
  docstrings of Python's standard library (real English, on every machine, no download).
  Dense vectors come from `rgw.sample.embed` (feature hashing): no model weights are fetched,
  so "dense" here is a lexical-ish embedding and the overlap is an upper bound of what a
  semantic model would show.
- Lexical speed at scale is `rgw.bench.fallback_lexical` (1M documents, rank-bm25 beside it).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import random
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from rgw import sample
from rgw.bench import percentile_ms
from rgw.http.client import Pool
from rgw.topology import local_topology

COLLECTION = "stdlib_docs"
CACHED = "cached_docs"
K = 10
POLICIES = f"""
[policies.collections.{CACHED}]
tier = "best-effort"
cache_ttl_s = 3600.0
"""


@dataclass
class Latency:
    what: str
    queries: int
    p50_ms: float
    p99_ms: float


@dataclass
class Overlap:
    what: str
    queries: int
    mean_overlap_at_10: float


def stdlib_docstrings(limit: int) -> list[str]:
    """Paragraphs from the docstrings of importable standard-library modules and their members."""
    texts: list[str] = []
    names = sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_"))
    stdlib = set(sys.stdlib_module_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            if name not in stdlib or name in ("antigravity", "this", "idlelib", "turtledemo", "tkinter"):
                continue
            try:
                module = importlib.import_module(name)
            except Exception:  # some modules need a display or an optional C library here
                continue
            for _, member in [("", module), *inspect.getmembers(module)]:
                doc = inspect.getdoc(member) if callable(member) or inspect.ismodule(member) else None
                for paragraph in (doc or "").split("\n\n"):
                    text = " ".join(paragraph.split())
                    if 60 <= len(text) <= 600 and text not in texts:
                        texts.append(text)
                if len(texts) >= limit:
                    return texts
    return texts


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return percentile_ms(ordered, 0.5), percentile_ms(ordered, 0.99)


async def _query(pool: Pool, collection: str, vector: list[float], text: str | None = None,
                 limit: int = K) -> tuple[list[int], str]:
    body = orjson.dumps({"query": vector, "limit": limit})
    headers = b"X-Gateway-Query-Text: " + text.encode("ascii", "ignore") + b"\r\n" if text else b""
    reply = await pool.request("POST", f"/collections/{collection}/points/query", body, headers)
    if reply.status != 200:
        raise RuntimeError(f"query answered {reply.status}: {reply.body[:200]!r}")
    return [p["id"] for p in orjson.loads(reply.body)["result"]["points"]], reply.content_type


async def _load(pool: Pool, collection: str, texts: list[str], ids: list[int]) -> None:
    body = orjson.dumps({"vectors": {"size": sample.DIMENSIONS, "distance": "Cosine"}})
    await pool.request("PUT", f"/collections/{collection}", body)
    for start in range(0, len(ids), 256):
        chunk = ids[start:start + 256]
        points = [{"id": i, "vector": sample.embed(texts[i]), "payload": {"text": texts[i]}} for i in chunk]
        body = orjson.dumps({"points": points})
        reply = await pool.request("PUT", f"/collections/{collection}/points?wait=true", body)
        if reply.status != 200:
            raise RuntimeError(f"load answered {reply.status}: {reply.body[:200]!r}")


async def measure(gateway_port: int, store_port: int, docs: int, queries: int) -> tuple[list[Latency], list[Overlap]]:
    gateway, store = Pool("127.0.0.1", gateway_port), Pool("127.0.0.1", store_port)
    try:
        texts = stdlib_docstrings(docs)
        print(f"  corpus: {len(texts)} standard-library docstring paragraphs", file=sys.stderr)
        ids = list(range(len(texts)))
        await _load(gateway, COLLECTION, texts, ids)
        await _load(gateway, CACHED, texts, ids[:2000])
        rng = random.Random(5)
        probes = [" ".join(rng.sample(texts[i].split(), min(6, len(texts[i].split())))) for i in
                  rng.sample(ids, queries)]
        vectors = [sample.embed(p) for p in probes]
        await _lexical_caught_up(gateway)

        latencies = []
        for what, pool, collection in (("store query (direct)", store, CACHED), ("gateway cache hit", gateway, CACHED)):
            await asyncio.gather(*(_query(pool, collection, v) for v in vectors[:50]))  # warm the cache
            samples = []
            for v in vectors[:50] * 10:
                started = time.perf_counter()
                await _query(pool, collection, v)
                samples.append(time.perf_counter() - started)
            latencies.append(Latency(what, len(samples), *_percentiles(samples)))

        dense = [await _query(gateway, COLLECTION, v) for v in vectors]
        overlaps = []
        reply = await gateway.request("POST", f"/gateway/admin/collections/{COLLECTION}/mode",
                                      orjson.dumps({"source": "lexical"}), b"Authorization: Bearer bench\r\n")
        if reply.status != 200:
            raise RuntimeError(f"forcing lexical failed: {reply.status} {reply.body[:200]!r}")
        lexical = [await _query(gateway, COLLECTION, v, text) for v, text in zip(vectors, probes, strict=True)]
        overlaps.append(Overlap("lexical vs dense", queries, _mean_overlap(lexical, dense)))
        for coverage in (0.5, 0.8, 0.95):
            subset = f"{COLLECTION}_{int(coverage * 100)}"
            await _load(store, subset, texts, sorted(rng.sample(ids, int(len(ids) * coverage))))
            partial = [await _query(store, subset, v) for v in vectors]
            overlaps.append(Overlap(f"partial at coverage {coverage:.2f} vs full", queries,
                                    _mean_overlap(partial, dense)))
        return latencies, overlaps
    finally:
        gateway.close()
        store.close()


async def _lexical_caught_up(gateway: Pool, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await gateway.request("GET", "/gateway/status", None)
        if orjson.loads(reply.body)["lexical"]["lag_entries"] == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the lexical index did not catch up with the journal")


def _mean_overlap(answers: list[tuple[list[int], str]], reference: list[tuple[list[int], str]]) -> float:
    scores = [len(set(a[0][:K]) & set(r[0][:K])) / max(1, min(K, len(r[0]))) for a, r in
              zip(answers, reference, strict=True)]
    return round(sum(scores) / len(scores), 3)


def render(latencies: list[Latency], overlaps: list[Overlap]) -> str:
    lines = ["what                               queries   p50 ms   p99 ms"]
    lines += [f"{x.what:<34} {x.queries:>7} {x.p50_ms:>8.3f} {x.p99_ms:>8.3f}" for x in latencies]
    lines += ["", "answer quality (mean top-10 overlap with the normal, dense answer)"]
    lines += [f"  {x.what:<40} {x.mean_overlap_at_10:.3f}  over {x.queries} queries" for x in overlaps]
    return "\n".join(lines)


def run_fallback_bench(docs: int = 20_000, queries: int = 200, as_json: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="rgw-bench-fallback-") as tmp:
        topology = local_topology(Path(tmp), regions=("primary",), extra_config=POLICIES)
        topology.gateway.env["RGW_ADMIN_TOKEN"] = "bench"
        with topology:
            latencies, overlaps = asyncio.run(measure(topology.gateway_port, topology.store_ports["primary"], docs,
                                                      queries))
    if as_json:
        print(orjson.dumps({"latency": [asdict(x) for x in latencies], "quality": [asdict(x) for x in overlaps]},
                           option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(latencies, overlaps))
    return 0
