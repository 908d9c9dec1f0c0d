"""`rgw bench restore`: backup, restore and rebuild times and rates on loopback.

One run: a 384-d collection is loaded through the gateway; the reference is the naive recovery,
upserting every point straight into a store (measured in the same run). Then a backup is taken,
more points are written (the journal the restore replays), the primary is wiped and restored
from the bundle, and the secondary is rebuilt from the journal alone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from rgw.auth.admin import TOKEN_ENV
from rgw.backup.cli import follow
from rgw.bench import progress
from rgw.bench.write import create_collection, write_batches
from rgw.http.client import Pool
from rgw.ops.client import admin_request
from rgw.ops.status import fetch
from rgw.topology import Topology, local_topology

DIMENSIONS = 384
BATCH = 256
WRITERS = 4
COLLECTION = "bench_restore"
REFERENCE = "bench_reload"


def _bodies(first: int, count: int) -> list[bytes]:
    rng = np.random.default_rng(first)
    out = []
    for start in range(first, first + count, BATCH):
        n = min(BATCH, first + count - start)
        vectors = rng.standard_normal((n, DIMENSIONS), dtype=np.float32)
        points = [{"id": start + i, "vector": vectors[i], "payload": {"n": start + i, "text": f"document {start + i}"}}
                  for i in range(n)]
        out.append(orjson.dumps({"points": points}, option=orjson.OPT_SERIALIZE_NUMPY))
    return out


async def _load(url: str, collection: str, first: int, count: int, wait: bool, create: bool) -> float:
    """Upsert `count` points with WRITERS concurrent writers; returns the seconds it took."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    pool = Pool(host, int(port))
    try:
        if create:
            await create_collection(pool, collection, DIMENSIONS)
        path = f"/collections/{collection}/points?wait={'true' if wait else 'false'}"
        return await write_batches(pool, path, _bodies(first, count), BATCH, WRITERS, f"upsert into {collection}",
                                   lambda done: progress(f"loading {collection}: {min(done, count)}/{count} points"))
    finally:
        pool.close()


def _job(topology: Topology, path: str, body: dict[str, Any]) -> dict[str, Any]:
    job = follow(topology.gateway_url, admin_request(topology.gateway_url, "POST", path, body))
    if job["state"] != "done":
        raise RuntimeError(f"{job['kind']} {job['state']}: {job['error']}")
    return job


def _wait_converged(topology: Topology, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = fetch(f"{topology.gateway_url}/gateway/status", timeout=10)
        if status is not None and all(r["replication"]["lag_entries"] == 0 for r in status["regions"]):
            return
        time.sleep(0.2)
    raise RuntimeError(f"regions did not converge within {timeout}s")


def run_restore_bench(points: int = 100_000, after: int = 5_000, as_json: bool = False) -> int:
    os.environ[TOKEN_ENV] = token = os.environ.get(TOKEN_ENV) or secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="rgw-bench-restore-") as tmp:
        topology = local_topology(Path(tmp))
        topology.gateway.env[TOKEN_ENV] = token
        with topology:
            reload_s = asyncio.run(_load(topology.store_url("primary"), REFERENCE, 0, points + after, True, True))
            _drop(topology, REFERENCE)
            ingest_s = asyncio.run(_load(topology.gateway_url, COLLECTION, 0, points, False, True))
            _wait_converged(topology)
            backup = _job(topology, "/gateway/admin/backups", {"collection": COLLECTION, "region": "primary"})
            asyncio.run(_load(topology.gateway_url, COLLECTION, points, after, False, False))
            _wait_converged(topology)
            store = topology.stores["primary"]
            store.kill()
            shutil.rmtree(topology.base / "regions" / "primary")
            store.start()
            restore = _job(topology, "/gateway/admin/restores", {"collection": COLLECTION, "to": "primary"})
            rebuild = _job(topology, "/gateway/admin/rebuilds", {"collection": COLLECTION, "to": "secondary"})
    print(file=sys.stderr)
    b, r, rb = backup["result"], restore["result"], rebuild["result"]
    report = {
        "points": points, "dimensions": DIMENSIONS, "written_after_backup": after,
        "reference_reload_s": round(reload_s, 2), "reference_points_per_s": round((points + after) / reload_s),
        "ingest_through_gateway_s": round(ingest_s, 2),
        "backup": {"seconds": b["seconds"], "bundle_mb": round(b["size_bytes"] / 1e6, 1),
                   "points_per_s": round(b["points_count"] / b["seconds"])},
        "restore": {"seconds": r["seconds"], "snapshot_recovered_s": r["recovered_s"], "check_s": r["checked_s"],
                    "replayed_entries": r["replayed_to_lsn"] - r["start_lsn"], "points": r["points"],
                    "points_per_s": r["points_per_s"], "vs_reference_reload": round(r["seconds"] / reload_s, 2),
                    "checked_equal": r["check"]["equal"] if isinstance(r["check"], dict) else None},
        "rebuild": {"seconds": rb["seconds"], "check_s": rb["checked_s"], "points": rb["points"],
                    "points_per_s": rb["points_per_s"],
                    "entries_per_s": rb["entries_per_s"], "vs_reference_reload": round(rb["seconds"] / reload_s, 2),
                    "checked_equal": rb["check"]["equal"] if isinstance(rb["check"], dict) else None},
    }
    if as_json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"rgw bench restore: {points} points x {DIMENSIONS} dims, {after} more written after the backup")
    print(f"  reference: upserting all {points + after} points straight into a store: {reload_s:.2f}s "
          f"({report['reference_points_per_s']} points/s)")
    print(f"  backup:  {b['seconds']:.2f}s, {report['backup']['bundle_mb']} MB bundle "
          f"({report['backup']['points_per_s']} points/s)")
    print(f"  restore: {r['seconds']:.2f}s (snapshot recovered after {r['recovered_s']:.2f}s, then "
          f"{report['restore']['replayed_entries']} journal entries replayed; comparing with the other region took "
          f"{r['checked_s']:.2f}s), {r['points']} points, "
          f"{r['points_per_s']} points/s, {report['restore']['vs_reference_reload']}x the reference")
    print(f"  rebuild from the journal: {rb['seconds']:.2f}s (check {rb['checked_s']:.2f}s), {rb['points']} points, "
          f"{rb['points_per_s']} points/s, "
          f"{rb['entries_per_s']} entries/s, {report['rebuild']['vs_reference_reload']}x the reference")
    return 0


def _drop(topology: Topology, collection: str) -> None:
    request = urllib.request.Request(f"{topology.store_url('primary')}/collections/{collection}", method="DELETE")
    with urllib.request.urlopen(request, timeout=60):
        pass
