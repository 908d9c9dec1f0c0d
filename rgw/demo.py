"""`rgw demo` (what `make run` runs): two regions and the gateway on loopback, with sample data."""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import time
from pathlib import Path

import orjson
from qdrant_client import QdrantClient, models

from rgw import sample
from rgw.procs import free_port
from rgw.topology import local_topology

COLLECTION = "articles"
PREFERRED_STORE_PORTS = {"primary": 6401, "secondary": 6402}


def _port_or_free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            return free_port()


def load_sample(url: str, points: int, batch: int = 256) -> None:
    client = QdrantClient(url=url, prefer_grpc=False, timeout=30)
    if client.collection_exists(COLLECTION):
        client.delete_collection(COLLECTION)
    client.create_collection(COLLECTION, vectors_config=models.VectorParams(size=sample.DIMENSIONS,
                                                                            distance=models.Distance.COSINE))
    docs = list(sample.articles(points))
    for start in range(0, points, batch):
        chunk = docs[start:start + batch]
        client.upsert(COLLECTION, wait=True, points=[
            models.PointStruct(id=start + i, vector=sample.embed(str(doc["text"])), payload=doc)
            for i, doc in enumerate(chunk)])
        print(f"\r  loading sample: {min(start + batch, points)}/{points} articles", end="", flush=True)
    print()
    client.create_payload_index(COLLECTION, "topic", models.PayloadSchemaType.KEYWORD)
    client.close()


def run_demo(base_dir: str, port: int, points: int) -> int:
    base = Path(base_dir)
    shutil.rmtree(base, ignore_errors=True)  # the demo starts clean every time
    ports = {name: _port_or_free(p) for name, p in PREFERRED_STORE_PORTS.items()}
    topology = local_topology(base, gateway_port=_port_or_free(port), store_ports=ports)
    token = secrets.token_urlsafe(12)
    topology.gateway.env["RGW_ADMIN_TOKEN"] = token
    print("starting two region stores and the gateway on loopback ...")
    with topology:
        load_sample(topology.gateway_url, points)
        primary, secondary = topology.stores["primary"], topology.stores["secondary"]
        query_file = topology.base / "query.json"
        query_file.write_bytes(orjson.dumps({"query": sample.embed("how do I reset my password"), "limit": 3,
                                             "with_payload": ["title"]}))
        print(f"""
Retrieval gateway is up.

  Point your client at the gateway:   QdrantClient(url="{topology.gateway_url}")
  Sample collection:                  "{COLLECTION}" ({points} help-centre articles, 384-d, Cosine)
  Regions:                            primary   {topology.store_url('primary')}  (pid {primary.pid})
                                      secondary {topology.store_url('secondary')}  (pid {secondary.pid})

  Query it (every answer says who answered in X-Gateway-Source / X-Gateway-Mode):
    curl -si -H 'content-type: application/json' -d @{query_file} \\
      {topology.gateway_url}/collections/{COLLECTION}/points/query

  Search by text and vector, provenance in the body too (the text lets lexical answer):
    curl -s -H 'content-type: application/json' {topology.gateway_url}/gateway/collections/{COLLECTION}/search \\
      -d '{{"text": "reset my password", "limit": 3, "with_payload": ["title"]}}'

  Watch failover: kill the primary and query again (X-Gateway-Source turns to secondary):
    kill -9 {primary.pid}
  Then the secondary too: the query above is answered by the cache, the text search by lexical:
    kill -9 {secondary.pid}
  Status of regions, replication, collections and overrides:
    .venv/bin/rgw status --gateway {topology.gateway_url}
  Operator commands (rgw mode, region, restore-mark, policy, reindex, backup, restore, drill) need
  the admin token:
    export RGW_ADMIN_TOKEN={token}
  A game-day scenario against this gateway, in a collection of its own (dropped afterwards):
    .venv/bin/rgw chaos run primary-emptied --config {topology.config_path} --collection gameday

  Logs: {topology.base / 'logs'}      Press Ctrl-C to stop everything.
""", flush=True)
        stop = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stop and topology.gateway.alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        print("\nstopping ...")
    return 0
