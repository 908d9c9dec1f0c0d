"""`rgw bench write`: acknowledged write rate through the journal, and replication lag.

In one run on loopback: the store's own upsert rate (the reference), the gateway's
acknowledged rate with `write_ack = "journal"` (384-d points, batches of 64, several
concurrent writers), then a steady paced load during which the time from acknowledgement
to "applied on every region" is sampled per write.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import orjson

from rgw.bench import percentile_ms, progress
from rgw.http.client import Pool
from rgw.topology import local_topology

DIMENSIONS = 384
BATCH = 64
COLLECTION = "bench_write"


@dataclass
class RatePhase:
    target: str
    writers: int
    points: int
    seconds: float
    points_per_s: float


@dataclass
class LagPhase:
    offered_points_per_s: int
    seconds: float
    writes: int
    lag_p50_ms: dict[str, float]
    lag_p99_ms: dict[str, float]
    lag_max_ms: dict[str, float]



def _batch_body(rng: np.random.Generator, first_id: int) -> bytes:
    vectors = rng.standard_normal((BATCH, DIMENSIONS), dtype=np.float32)
    points = [{"id": first_id + i, "vector": vectors[i], "payload": {"n": first_id + i, "text": f"doc {first_id + i}"}}
              for i in range(BATCH)]
    return orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY)


async def create_collection(pool: Pool, collection: str, dimensions: int) -> None:
    reply = await pool.request("PUT", f"/collections/{collection}",
                               orjson.dumps({"vectors": {"size": dimensions, "distance": "Cosine"}}))
    if reply.status != 200:
        raise RuntimeError(f"create {collection}: HTTP {reply.status}: {reply.body[:200]!r}")


async def write_batches(pool: Pool, path: str, bodies: list[bytes], batch: int, writers: int, what: str,
                        written: Callable[[int], None]) -> float:
    """PUT every body to `path` from `writers` concurrent writers; the seconds that took.

    The bodies are built beforehand, so the time is the target's alone. `written(done)` follows
    each acknowledged body, `done` counting `batch` points a body.
    """
    queue = iter(bodies)
    done = 0

    async def writer() -> None:
        nonlocal done
        for body in queue:
            reply = await pool.request("PUT", path, body)
            if reply.status != 200:
                raise RuntimeError(f"{what}: HTTP {reply.status}: {reply.body[:200]!r}")
            done += batch
            written(done)

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - started


async def measure_rate(pool: Pool, target: str, points: int, writers: int, wait: bool, first_id: int) -> RatePhase:
    rng = np.random.default_rng(first_id)
    bodies = [_batch_body(rng, first_id + start) for start in range(0, points, BATCH)]
    path = f"/collections/{COLLECTION}/points?wait={'true' if wait else 'false'}"

    def written(done: int) -> None:
        if done % (BATCH * 20) == 0:
            progress(f"{target}: {done}/{points} points")

    elapsed = await write_batches(pool, path, bodies, BATCH, writers, target, written)
    print(file=sys.stderr)
    return RatePhase(target, writers, len(bodies) * BATCH, round(elapsed, 3), round(len(bodies) * BATCH / elapsed, 1))


async def _applied(gateway: Pool) -> dict[str, int]:
    reply = await gateway.request("GET", "/gateway/status", None)
    status = orjson.loads(reply.body)
    return {r["name"]: r["replication"]["applied_lsn"] for r in status["regions"]}


async def wait_drained(gateway: Pool, timeout: float = 600) -> float:
    started = time.monotonic()
    reply = await gateway.request("GET", "/gateway/status", None)
    head = orjson.loads(reply.body)["journal"]["head_lsn"]
    while time.monotonic() - started < timeout:
        applied = await _applied(gateway)
        progress(f"replication draining: {min(applied.values())}/{head}")
        if min(applied.values()) >= head:
            print(file=sys.stderr)
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError("replication did not drain")


async def measure_lag(gateway: Pool, rate: int, seconds: float, first_id: int) -> LagPhase:
    """Paced writes at `rate` points/s; lag = from acknowledgement to applied on each region."""
    rng = np.random.default_rng(first_id)
    path = f"/collections/{COLLECTION}/points?wait=false"
    acked_at: dict[int, float] = {}
    lag: dict[str, list[float]] = {}
    pending: dict[str, dict[int, float]] = {}
    interval = BATCH / rate
    stop = time.monotonic() + seconds

    async def paced_writer() -> None:
        next_at = time.monotonic()
        i = 0
        while time.monotonic() < stop:
            body = _batch_body(rng, first_id + i * BATCH)
            reply = await gateway.request("PUT", path, body)
            lsn = int(orjson.loads(reply.body)["result"]["operation_id"])
            acked_at[lsn] = time.monotonic()
            i += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def sampler() -> None:
        while time.monotonic() < stop + 30:
            applied = await _applied(gateway)
            now = time.monotonic()
            for region, lsn in applied.items():
                waiting = pending.setdefault(region, {})
                waiting.update({k: v for k, v in acked_at.items() if k not in waiting and k not in done[region]})
                for write_lsn in [k for k in waiting if k <= lsn]:
                    lag.setdefault(region, []).append(now - waiting.pop(write_lsn))
                    done[region].add(write_lsn)
            if time.monotonic() > stop and all(not w for w in pending.values()):
                return
            await asyncio.sleep(0.02)

    done: dict[str, set[int]] = {name: set() for name in await _applied(gateway)}
    await asyncio.gather(paced_writer(), sampler())

    def pct(values: list[float], q: float) -> float:
        return percentile_ms(sorted(values), q, digits=1)

    return LagPhase(rate, seconds, len(acked_at), {r: pct(v, 0.5) for r, v in lag.items()},
                    {r: pct(v, 0.99) for r, v in lag.items()}, {r: round(max(v) * 1000, 1) for r, v in lag.items()})


async def measure(topology_ports: tuple[int, int], points: int, writers: int, rate: int,
                  seconds: float) -> tuple[list[RatePhase], float, LagPhase]:
    store_port, gateway_port = topology_ports
    store, gateway = Pool("127.0.0.1", store_port), Pool("127.0.0.1", gateway_port)
    try:
        await create_collection(gateway, COLLECTION, DIMENSIONS)
        await wait_drained(gateway)
        phases = [await measure_rate(store, "store (direct, wait=true)", points, writers, True, 10_000_000),
                  await measure_rate(gateway, "gateway (journal ack)", points, writers, False, 0)]
        drain = await wait_drained(gateway)
        progress(f"steady load at {rate} points/s for {seconds:.0f}s")
        lag = await measure_lag(gateway, rate, seconds, 20_000_000)
        print(file=sys.stderr)
        return phases, drain, lag
    finally:
        store.close()
        gateway.close()


def render(phases: list[RatePhase], drain: float, lag: LagPhase) -> str:
    lines = [f"{DIMENSIONS}-d points, batches of {BATCH}", "",
             "target                         writers   points   seconds   points/s"]
    for p in phases:
        lines.append(f"{p.target:<30} {p.writers:>7} {p.points:>8} {p.seconds:>9.2f} {p.points_per_s:>10.0f}")
    direct, via = phases
    lines += ["", f"gateway acknowledged rate: {via.points_per_s / direct.points_per_s:.2f}x of the store's direct "
                  f"upsert rate; backlog drained to both regions {drain:.1f}s after the last acknowledgement", "",
              f"replication lag at {lag.offered_points_per_s} points/s for {lag.seconds:.0f}s ({lag.writes} writes), "
              "acknowledgement -> applied:"]
    for region in sorted(lag.lag_p50_ms):
        lines.append(f"  {region:<10} p50 {lag.lag_p50_ms[region]:>7.1f} ms   p99 {lag.lag_p99_ms[region]:>7.1f} ms"
                     f"   max {lag.lag_max_ms[region]:>7.1f} ms")
    return "\n".join(lines)


def run_write_bench(points: int, writers: int, rate: int, seconds: float, as_json: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="rgw-bench-write-") as tmp:
        topology = local_topology(Path(tmp))
        with topology:
            # The direct reference writes to the secondary's store, in its own id range.
            phases, drain, lag = asyncio.run(measure((topology.store_ports["secondary"], topology.gateway_port),
                                                     points, writers, rate, seconds))
    if as_json:
        print(orjson.dumps({"rates": [asdict(p) for p in phases], "drain_s": drain, "lag": asdict(lag)},
                           option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(phases, drain, lag))
    return 0
