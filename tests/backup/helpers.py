"""Running the operator's backup commands against a real topology, and reading what they did."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
from qdrant_client import models

from rgw.procs import rgw_argv, wait_until
from rgw.topology import Topology, local_topology
from tests.journal.ingest import point
from tests.proxy.helpers import DIM, connect

TOKEN = "backup-test-token"
COLLECTION = "docs"


def started_topology(base: Path, extra_config: str = "") -> Topology:
    topo = local_topology(base, extra_config=extra_config)
    topo.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    return topo.start()


def rgw(topology: Topology, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run an operator command the way a person would: `rgw ... --config FILE` with the token in the env."""
    return subprocess.run(rgw_argv(*args, "--config", str(topology.config_path)), capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "RGW_ADMIN_TOKEN": TOKEN})


def rgw_background(topology: Topology, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(rgw_argv(*args, "--config", str(topology.config_path)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RGW_ADMIN_TOKEN": TOKEN})


def rgw_json(topology: Topology, *args: str, timeout: float = 180) -> dict[str, Any]:
    done = rgw(topology, *args, "--json", timeout=timeout)
    assert done.returncode == 0, f"rgw {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}"
    return orjson.loads(done.stdout)


def create(topology: Topology, name: str = COLLECTION) -> None:
    client = connect(topology.gateway_url)
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.close()


def write(topology: Topology, ids: range, version: int = 0, batch: int = 100, name: str = COLLECTION) -> None:
    """Upsert through the gateway, acknowledged (journal ack), `batch` points per request."""
    client = connect(topology.gateway_url)
    for start in range(ids.start, ids.stop, batch):
        chunk = [point(i, version) for i in range(start, min(start + batch, ids.stop))]
        client.upsert(name, wait=False, points=[models.PointStruct(**p) for p in chunk])
    client.close()


def region_count(topology: Topology, region: str, name: str = COLLECTION) -> int | None:
    client = connect(topology.store_url(region))
    try:
        if not client.collection_exists(name):
            return None
        return client.count(name, exact=True).count
    finally:
        client.close()


def status(topology: Topology) -> dict[str, Any]:
    done = subprocess.run(rgw_argv("status", "--gateway", topology.gateway_url, "--json"), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


def wait_converged(topology: Topology, timeout: float = 60) -> None:
    def converged() -> bool:
        return all(r["replication"]["lag_entries"] == 0 for r in status(topology)["regions"])

    wait_until(converged, timeout, interval=0.2, what="every region to apply the whole journal")


def wipe_region(topology: Topology, region: str) -> None:
    """SIGKILL a region store, delete its data directory, start it again empty."""
    store = topology.stores[region]
    store.kill()
    data = topology.base / "regions" / region
    shutil.rmtree(data)
    store.start()


def job_of(topology: Topology, kind: str, collection: str = COLLECTION) -> dict[str, Any] | None:
    jobs = [j for j in status(topology)["backups"]["jobs"] if j["kind"] == kind and j["collection"] == collection]
    return jobs[-1] if jobs else None


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    wait_until(predicate, timeout, interval=0.1, what=what)


def restore_under_way(topology: Topology, backed_up: range, after: range, batch: int, max_rate: int,
                      replayed: int) -> tuple[int, subprocess.Popen[str]]:
    """Back up `backed_up` points, write `after` in batches of `batch` (the entries to replay), wipe the
    primary and start `rgw restore` paced at `max_rate` entries/s; return (the bundle's LSN, the running
    command) once the restore has replayed `replayed` entries."""
    create(topology)
    write(topology, backed_up)
    wait_converged(topology)
    lsn = rgw_json(topology, "backup", "create", "--collection", COLLECTION)["result"]["lsn"]
    write(topology, after, batch=batch)
    wait_converged(topology)
    wipe_region(topology, "primary")
    command = rgw_background(topology, "restore", "--collection", COLLECTION, "--to", "primary",
                             "--max-rate", str(max_rate))

    def replaying() -> bool:
        job = job_of(topology, "restore")
        return job is not None and job["phase"] == "replaying the journal" and job["done"] >= replayed

    wait_for(replaying, 60, "the restore to be replaying the journal")
    return lsn, command
