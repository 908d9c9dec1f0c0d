"""`rgw bench read`: what the gateway adds to a query, measured against the store in the same run.

Starts a region store and the gateway on loopback, loads a 384-d collection straight into the
store, waits until it is indexed, then sends the same queries directly and through the
gateway at several concurrencies. The gateway's CPU per query comes from /proc, so it counts
only the gateway process, whatever else the machine is doing.

`python -m rgw.bench.read --static` puts a fixed-answer region in place of the store: what the
gateway itself costs when its region answers at once and takes no CPU from it (the store's
searches share this machine's two cores with the gateway, which makes every query cost the
gateway more; the two runs together tell the gateway's work from that contention).

`--auth` adds a second gateway in front of the same region with client authentication on
([auth] with an api key and JWT RBAC), measured in the same run, alternating with the first:
`auth-key` sends the static key (`api-key`), `auth-jwt` a JWT (`Authorization: Bearer`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import jwt
import numpy as np
import orjson
import uvloop

from rgw.bench import percentile_ms, progress
from rgw.http.client import Exchange, Pool
from rgw.procs import free_port, gateway_process, http_ok, wait_until
from rgw.topology import local_topology

COLLECTION = "bench"
DIMENSIONS = 384
LOAD_BATCH = 1000
DISTINCT_QUERIES = 500
MAX_PHASE_SECONDS = 60.0
IDLE_SECONDS = 3.0  # the gateway's background CPU (health checks, appliers, sweeps) is measured this long


@dataclass
class Phase:
    target: str  # "store" or "gateway"
    concurrency: int
    queries: int
    seconds: float
    p50_ms: float
    p99_ms: float
    qps: float
    gateway_cpu_us_per_query: float | None  # all the gateway's CPU during the phase / queries
    # The gateway's CPU while idle (no queries) just before the phase, per second, and what the
    # phase's figure becomes without that background share; reported beside it, never instead.
    gateway_idle_cpu_ms_per_s: float | None = None
    gateway_cpu_us_per_query_less_idle: float | None = None


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread, exited ones too), in clock ticks (10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_cpu_seconds(pid: int) -> float:
    """On-CPU time of the process's live threads, to the nanosecond (schedstat): for short idle windows,
    where clock ticks are too coarse. Falls back to process_cpu_seconds without schedstat."""
    try:
        return sum(int((task / "schedstat").read_text().split()[0]) for task in Path(f"/proc/{pid}/task").iterdir()
                   ) / 1e9
    except (OSError, ValueError, IndexError):
        return process_cpu_seconds(pid)


async def idle_cpu_per_second(pid: int, seconds: float = IDLE_SECONDS) -> float:
    before = threads_cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return (threads_cpu_seconds(pid) - before) / seconds



async def load_collection(pool: Pool, points: int, seed: int) -> None:
    body = orjson.dumps({"vectors": {"size": DIMENSIONS, "distance": "Cosine"}})
    reply = await pool.request("PUT", f"/collections/{COLLECTION}", body)
    if reply.status != 200:
        raise RuntimeError(f"create collection failed: {reply.status} {reply.body[:200]!r}")
    rng = np.random.default_rng(seed)
    for start in range(0, points, LOAD_BATCH):
        count = min(LOAD_BATCH, points - start)
        vectors = rng.standard_normal((count, DIMENSIONS), dtype=np.float32)
        batch = {"batch": {"ids": list(range(start, start + count)), "vectors": vectors,
                           "payloads": [{"n": i} for i in range(start, start + count)]}}
        reply = await pool.request("PUT", f"/collections/{COLLECTION}/points?wait=true",
                                   orjson.dumps(batch, option=orjson.OPT_SERIALIZE_NUMPY))
        if reply.status != 200:
            raise RuntimeError(f"upsert failed: {reply.status} {reply.body[:200]!r}")
        progress(f"loading {start + count}/{points} points")
    print(file=sys.stderr)


async def collection_info(pool: Pool) -> dict:
    reply = await pool.request("GET", f"/collections/{COLLECTION}", None)
    return orjson.loads(reply.body)["result"]


async def wait_indexed(pool: Pool, points: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await collection_info(pool)
        indexed = info.get("indexed_vectors_count") or 0
        progress(f"index building: {indexed}/{points} vectors indexed")
        if indexed >= points:
            print(file=sys.stderr)
            return True
        await asyncio.sleep(1.0)
    print(file=sys.stderr)
    return False


async def run_phase(pool: Pool, bodies: list[bytes], concurrency: int, total: int, target: str,
                    gateway_pid: int | None, headers: bytes = b"") -> Phase:
    path = f"/collections/{COLLECTION}/points/query"
    latencies: list[float] = []
    counter = iter(range(total))
    deadline = time.monotonic() + MAX_PHASE_SECONDS

    async def worker() -> None:
        for i in counter:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            reply = await pool.request("POST", path, bodies[i % len(bodies)], headers)
            latencies.append(time.perf_counter() - started)
            if reply.status != 200:
                raise RuntimeError(f"{target} answered {reply.status}: {reply.body[:200]!r}")

    warm = iter(range(min(200, total)))
    await asyncio.gather(*(_drain(pool, path, bodies, warm, headers) for _ in range(concurrency)))
    idle = await idle_cpu_per_second(gateway_pid) if gateway_pid else None
    cpu_before = process_cpu_seconds(gateway_pid) if gateway_pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = process_cpu_seconds(gateway_pid) - cpu_before if gateway_pid else None
    latencies.sort()
    n = len(latencies)
    return Phase(target=target, concurrency=concurrency, queries=n, seconds=round(elapsed, 3),
                 p50_ms=percentile_ms(latencies, 0.5), p99_ms=percentile_ms(latencies, 0.99),
                 qps=round(n / elapsed, 1),
                 gateway_cpu_us_per_query=None if cpu is None else round(cpu / n * 1e6, 1),
                 gateway_idle_cpu_ms_per_s=None if idle is None else round(idle * 1e3, 2),
                 gateway_cpu_us_per_query_less_idle=None if cpu is None or idle is None else round(
                     (cpu - idle * elapsed) / n * 1e6, 1))


async def _drain(pool: Pool, path: str, bodies: list[bytes], counter, headers: bytes = b"") -> None:
    for i in counter:
        await pool.request("POST", path, bodies[i % len(bodies)], headers)


# name, its connection pool, the pid whose CPU is measured, header lines sent with every query
Target = tuple[str, Pool, int | None, bytes]
AUTH_TARGETS = ("auth-key", "auth-jwt")


def targets(reference: str, reference_port: int, gateway_port: int, gateway_pid: int,
            floor: tuple[int, int] | None, authed: AuthedGateway | None = None) -> list[Target]:
    """The reference asked directly, the gateway in front of it, the floor proxy and the gateway with auth on
    (with its static key, and with a JWT) when they run."""
    out: list[Target] = [(reference, Pool("127.0.0.1", reference_port), None, b""),
                         ("gateway", Pool("127.0.0.1", gateway_port), gateway_pid, b"")]
    if authed is not None:
        out += [("auth-key", Pool("127.0.0.1", authed.port), authed.pid, f"api-key: {authed.key}\r\n".encode()),
                ("auth-jwt", Pool("127.0.0.1", authed.port), authed.pid,
                 f"Authorization: Bearer {authed.token}\r\n".encode())]
    if floor is not None:
        out.append(("floor", Pool("127.0.0.1", floor[0]), floor[1], b""))
    return out


async def measure_targets(measured: list[Target], queries: int, concurrencies: tuple[int, ...],
                          rounds: int = 1) -> list[Phase]:
    """Every target at every concurrency, the same query bodies for all, `rounds` times over with the targets
    alternating; each (target, concurrency) reported by its median round. Closes the pools."""
    try:
        rng = np.random.default_rng(7)
        bodies = [orjson.dumps({"query": v, "limit": 10}, option=orjson.OPT_SERIALIZE_NUMPY)
                  for v in rng.standard_normal((DISTINCT_QUERIES, DIMENSIONS), dtype=np.float32)]
        measured_rounds: dict[tuple[str, int], list[Phase]] = {}
        for round_ in range(rounds):
            for concurrency in concurrencies:
                for target, pool, pid, headers in measured:
                    progress(f"round {round_ + 1}/{rounds}: measuring {target} at concurrency {concurrency}")
                    phase = await run_phase(pool, bodies, concurrency, queries, target, pid, headers)
                    measured_rounds.setdefault((target, concurrency), []).append(phase)
        print(file=sys.stderr)
        return [median_phase(phases) for phases in measured_rounds.values()]
    finally:
        for _, pool, _, _ in measured:
            pool.close()


def median_phase(phases: list[Phase]) -> Phase:
    """The round whose gateway CPU per query is the median (the p50 latency's median when no CPU is measured)."""
    def key(p: Phase) -> float:
        return p.gateway_cpu_us_per_query if p.gateway_cpu_us_per_query is not None else p.p50_ms

    return sorted(phases, key=key)[len(phases) // 2]


async def measure(store_port: int, gateway_port: int, gateway_pid: int, points: int, queries: int,
                  concurrencies: tuple[int, ...], floor: tuple[int, int] | None = None,
                  baseline: tuple[int, int] | None = None, rounds: int = 1,
                  authed: AuthedGateway | None = None) -> tuple[list[Phase], dict]:
    store = Pool("127.0.0.1", store_port)
    try:
        await load_collection(store, points, seed=42)
        indexed = await wait_indexed(store, points, timeout=600)
        info = await collection_info(store)
    finally:
        store.close()
    measured = targets("store", store_port, gateway_port, gateway_pid, floor, authed)
    if baseline is not None:
        measured.insert(2, ("baseline", Pool("127.0.0.1", baseline[0]), baseline[1], b""))
    phases = await measure_targets(measured, queries, concurrencies, rounds)
    return phases, {"indexed": indexed, "points_count": info.get("points_count"),
                    "indexed_vectors_count": info.get("indexed_vectors_count"),
                    "segments_count": info.get("segments_count")}


def render(phases: list[Phase], meta: dict) -> str:
    if "static" in meta:
        about = "static region: a fixed 10-hit answer to every query, at once"
    else:
        about = (f"collection: {meta['points_count']} points x {DIMENSIONS} dims, indexed={meta['indexed']} "
                 f"({meta['indexed_vectors_count']} vectors in HNSW, {meta['segments_count']} segments), limit 10")
    reference = phases[0].target
    lines = [about, "", "target   conc  queries   p50 ms   p99 ms      qps   gateway CPU us/query "
                        "(raw / less idle; idle ms/s)"]
    for p in phases:
        cpu = "-" if p.gateway_cpu_us_per_query is None else f"{p.gateway_cpu_us_per_query:.0f}"
        if p.gateway_cpu_us_per_query_less_idle is not None:
            cpu += f" / {p.gateway_cpu_us_per_query_less_idle:.0f}; idle {p.gateway_idle_cpu_ms_per_s:.1f}"
        lines.append(f"{p.target:<8} {p.concurrency:>4} {p.queries:>8} {p.p50_ms:>8.3f} {p.p99_ms:>8.3f} "
                     f"{p.qps:>8.0f}   {cpu}")
    lines.append("")
    by_key = {(p.target, p.concurrency): p for p in phases}
    for concurrency in sorted({p.concurrency for p in phases}):
        direct, via = by_key[(reference, concurrency)], by_key[("gateway", concurrency)]
        lines.append(f"concurrency {concurrency}: gateway adds {via.p50_ms - direct.p50_ms:+.3f} ms at p50 "
                     f"({via.p50_ms / direct.p50_ms:.2f}x), {via.p99_ms - direct.p99_ms:+.3f} ms at p99; "
                     f"throughput {via.qps / direct.qps:.2f}x of direct; "
                     f"{via.gateway_cpu_us_per_query:.0f} us gateway CPU per query")
        if (old := by_key.get(("baseline", concurrency))) is not None:
            lines.append(f"concurrency {concurrency}: against the baseline tree, gateway CPU "
                         f"{via.gateway_cpu_us_per_query:.0f} vs {old.gateway_cpu_us_per_query:.0f} us per query "
                         f"({via.gateway_cpu_us_per_query / old.gateway_cpu_us_per_query:.2f}x), p50 "
                         f"{via.p50_ms - old.p50_ms:+.3f} ms")
        for name in AUTH_TARGETS:
            if (authed := by_key.get((name, concurrency))) is not None:
                lines.append(f"concurrency {concurrency}: {name} against auth off, gateway CPU "
                             f"{authed.gateway_cpu_us_per_query:.0f} vs {via.gateway_cpu_us_per_query:.0f} us/query "
                             f"({authed.gateway_cpu_us_per_query - via.gateway_cpu_us_per_query:+.1f} us; less idle "
                             f"{_less_idle_delta(authed, via)}), p50 {authed.p50_ms - via.p50_ms:+.3f} ms")
        if (floor := by_key.get(("floor", concurrency))) is not None:
            lines.append(f"concurrency {concurrency}: floor proxy adds {floor.p50_ms - direct.p50_ms:+.3f} ms at p50, "
                         f"{floor.gateway_cpu_us_per_query:.0f} us CPU per query (the gateway: "
                         f"{via.gateway_cpu_us_per_query / floor.gateway_cpu_us_per_query:.2f}x)")
    if any(p.target == "floor" for p in phases):
        lines += ["", "floor: a minimal Python proxy (uvloop, this gateway's HTTP client, no routing, no task per "
                      "request): what any Python proxy costs on this machine; CPU columns for it are its own process"]
    return "\n".join(lines)


def _less_idle_delta(a: Phase, b: Phase) -> str:
    if a.gateway_cpu_us_per_query_less_idle is None or b.gateway_cpu_us_per_query_less_idle is None:
        return "-"
    return f"{a.gateway_cpu_us_per_query_less_idle - b.gateway_cpu_us_per_query_less_idle:+.1f} us"


def run_read_bench(points: int, queries: int, as_json: bool = False,
                   concurrencies: tuple[int, ...] = (1, 16), floor: bool = True, baseline: Path | None = None,
                   rounds: int = 1, auth: bool = False) -> int:
    """`baseline`: another source tree of the gateway (built in place), measured beside this one, alternating.
    `auth`: also a gateway with client authentication on, asked with its key and with a JWT."""
    with tempfile.TemporaryDirectory(prefix="rgw-bench-") as tmp:
        topology = local_topology(Path(tmp), regions=("primary",))
        with topology, floor_proxy(topology.store_ports["primary"], enabled=floor) as floor_at, \
                baseline_gateway(baseline, topology.store_url("primary"), Path(tmp)) as old, \
                authed_gateway(auth, topology.store_url("primary"), Path(tmp)) as authed:
            print(f"store pid {topology.stores['primary'].pid}, gateway pid {topology.gateway.pid}", file=sys.stderr)
            phases, meta = asyncio.run(measure(topology.store_ports["primary"], topology.gateway_port,
                                               topology.gateway.pid, points, queries, concurrencies, floor_at,
                                               old, rounds, authed))
            meta["rounds"] = rounds
    if as_json:
        print(orjson.dumps({"meta": meta, "phases": [asdict(p) for p in phases]}, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(phases, meta))
    return 0


@contextlib.contextmanager
def baseline_gateway(tree: Path | None, region_url: str, tmp: Path) -> Iterator[tuple[int, int] | None]:
    """The gateway as another source tree has it (an older commit, built in place), in front of the same store:
    (port, pid), or None without a tree. Its working directory is the tree, so `-m rgw.cli` imports from it."""
    if tree is None:
        yield None
        return
    port = free_port()
    config = tmp / "baseline.toml"
    config.write_text(f'[gateway]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{tmp / "baseline"}"\n\n'
                      f'[[regions]]\nname = "primary"\nurl = "{region_url}"\n')
    process = gateway_process(config, f"127.0.0.1:{port}", tmp / "logs", name="baseline-gateway")
    process.cwd = tree.resolve()
    process.env["PYTHONPATH"] = str(tree.resolve())
    process.start(wait=60)
    try:
        yield port, process.pid
    finally:
        process.stop()


@dataclass(frozen=True)
class AuthedGateway:
    port: int
    pid: int
    key: str  # its api key (also what signs the JWT)
    token: str  # a JWT with global read access, valid for the run


@contextlib.contextmanager
def authed_gateway(enabled: bool, region_url: str, tmp: Path) -> Iterator[AuthedGateway | None]:
    """A second gateway in front of the same region with [auth] on (an api key, JWT RBAC), when enabled."""
    if not enabled:
        yield None
        return
    port, key = free_port(), secrets.token_hex(24)
    config = tmp / "authed.toml"
    config.write_text(f'[gateway]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{tmp / "authed"}"\n\n'
                      f'[[regions]]\nname = "primary"\nurl = "{region_url}"\n\n'
                      f'[auth]\napi_key = "{key}"\njwt_rbac = true\n')
    process = gateway_process(config, f"127.0.0.1:{port}", tmp / "logs", name="authed-gateway").start(wait=60)
    token = jwt.encode({"exp": int(time.time()) + 86400, "access": "r", "sub": "bench"}, key, algorithm="HS256")
    try:
        print(f"gateway with auth pid {process.pid}", file=sys.stderr)
        yield AuthedGateway(port, process.pid, key, token)
    finally:
        process.stop()


# -- the gateway against a region that answers at once ------------------------------------------
STATIC_ANSWER = orjson.dumps({"result": {"points": [{"id": i, "version": 1, "score": 0.9 - i / 100}
                                                     for i in range(10)]}, "status": "ok", "time": 0.0002})
STATIC_BODIES = {b"/collections": orjson.dumps({"result": {"collections": [{"name": COLLECTION}]}, "status": "ok",
                                                "time": 0.0}),
                 f"/collections/{COLLECTION}".encode(): orjson.dumps({"result": {"status": "green", "points_count": 0},
                                                                      "status": "ok", "time": 0.0})}


class StaticRegion(asyncio.Protocol):
    """Just enough of a region for the gateway: health, collection listing, and one answer to every query."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            lines = self._buffer[:end].lower().split(b"\r\n")
            length = next((int(line.partition(b":")[2]) for line in lines if line.startswith(b"content-length:")), 0)
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length:]
            path = lines[0].split(b" ")[1].partition(b"?")[0]
            body = b"ok" if path == b"/readyz" else STATIC_BODIES.get(path, STATIC_ANSWER)
            self._transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def serve_static_region(port: int) -> None:
    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(StaticRegion, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(serve())


async def measure_static(region_port: int, gateway_port: int, gateway_pid: int, queries: int,
                         concurrencies: tuple[int, ...], floor: tuple[int, int] | None = None,
                         authed: AuthedGateway | None = None, rounds: int = 1) -> list[Phase]:
    return await measure_targets(targets("region", region_port, gateway_port, gateway_pid, floor, authed), queries,
                                 concurrencies, rounds)


def run_static_read_bench(queries: int, concurrencies: tuple[int, ...] = (1, 16), floor: bool = True,
                          auth: bool = False, rounds: int = 1) -> int:
    with tempfile.TemporaryDirectory(prefix="rgw-bench-") as tmp, contextlib.ExitStack() as stack:
        region_port, gateway_port = free_port(), free_port()
        region = subprocess.Popen([sys.executable, "-m", "rgw.bench.read", "--serve-static", str(region_port)])
        gateway = None
        try:
            wait_until(lambda: http_ok(f"http://127.0.0.1:{region_port}/readyz"), 30, what="the static region")
            config = Path(tmp) / "gateway.toml"
            config.write_text(f'[gateway]\nlisten = "127.0.0.1:{gateway_port}"\n'
                              f'data_dir = "{Path(tmp) / "gateway"}"\n\n'
                              f'[[regions]]\nname = "primary"\nurl = "http://127.0.0.1:{region_port}"\n')
            gateway = gateway_process(config, f"127.0.0.1:{gateway_port}", Path(tmp) / "logs").start(wait=60)
            print(f"static region pid {region.pid}, gateway pid {gateway.pid}", file=sys.stderr)
            floor_at = stack.enter_context(floor_proxy(region_port, enabled=floor))
            authed = stack.enter_context(authed_gateway(auth, f"http://127.0.0.1:{region_port}", Path(tmp)))
            phases = asyncio.run(measure_static(region_port, gateway_port, gateway.pid, queries, concurrencies,
                                                floor_at, authed, rounds))
        finally:
            if gateway is not None:
                gateway.stop()
            region.terminate()
            region.wait(10)
    print(render(phases, {"static": True}))
    return 0


# -- the floor: the least any Python proxy on this loop and client costs ---------------------------------
class FloorProxy(asyncio.Protocol):
    """Forwards each request (Content-Length bodies only) to one upstream with rgw.http.client, answers it back.

    No routing, health, provenance or cache, no task and no future per request: a reference for how
    much of the gateway's CPU any Python proxy here would spend anyway (wakeups, syscalls, the client).
    """

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self._buffer[:end + 2]
        at = head.lower().find(b"\r\ncontent-length:")
        length = int(head[at + 17:head.index(b"\r\n", at + 2)]) if at >= 0 else 0
        if len(self._buffer) < end + 4 + length:
            return
        body = self._buffer[end + 4:end + 4 + length]
        self._buffer = self._buffer[end + 4 + length:]
        method, path, _ = head[:head.index(b"\r\n")].split(b" ")

        def answer(exchange: Exchange) -> None:
            reply = exchange.response
            if reply is None:
                self._transport.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            self._transport.write(b"HTTP/1.1 %d OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
                reply.status, reply.content_type.encode(), len(reply.body), reply.body))

        self._pool.start(method.decode(), path.decode(), body or None, b"Content-Type: application/json\r\n", answer)


def serve_floor_proxy(port: int, upstream_port: int) -> None:
    async def serve() -> None:
        pool = Pool("127.0.0.1", upstream_port)
        server = await asyncio.get_running_loop().create_server(lambda: FloorProxy(pool), "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(serve())


@contextlib.contextmanager
def floor_proxy(upstream_port: int, enabled: bool = True) -> Iterator[tuple[int, int] | None]:
    """(port, pid) of a running floor proxy in front of `upstream_port`, or None when not enabled."""
    if not enabled:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rgw.bench.read", "--serve-floor", str(port), str(upstream_port)])
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), 30, what="the floor proxy")
        print(f"floor proxy pid {proc.pid}", file=sys.stderr)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m rgw.bench.read", description=__doc__)
    parser.add_argument("--static", action="store_true", help="measure against a fixed-answer region")
    parser.add_argument("--queries", type=int, default=20000, help="queries per measured phase (--static)")
    parser.add_argument("--no-floor", action="store_true", help="skip the minimal-proxy reference (--static)")
    parser.add_argument("--auth", action="store_true", help="also a gateway with auth on: static key and JWT")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, alternating targets; the median is reported")
    parser.add_argument("--serve-static", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-floor", type=int, nargs=2, metavar=("PORT", "UPSTREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_static:
        serve_static_region(args.serve_static)
        return 0
    if args.serve_floor:
        serve_floor_proxy(*args.serve_floor)
        return 0
    if args.static:
        return run_static_read_bench(args.queries, floor=not args.no_floor, auth=args.auth, rounds=args.rounds)
    parser.error("use `rgw bench read` for the store; --static here for the fixed-answer region")
    return 2


if __name__ == "__main__":
    sys.exit(main())
