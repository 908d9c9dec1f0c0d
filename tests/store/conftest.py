"""Fixtures that run real region-store processes on loopback and talk to them over REST."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from rgw.procs import Managed, free_port, store_process


@dataclass
class RunningStore:
    proc: Managed
    data: Path

    @property
    def url(self) -> str:
        return self.proc.ready_url.removesuffix("/readyz")

    def client(self) -> QdrantClient:
        # The version check runs in a daemon thread that can outlive a store a test kills; it has a test of its own.
        return QdrantClient(url=self.url, prefer_grpc=False, timeout=30, check_compatibility=False)

    def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Raw request: body may be bytes (sent as is) or JSON-able; returns (status, parsed JSON)."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()


StartStore = Callable[..., RunningStore]


def _starter(base: Path) -> tuple[StartStore, list[Managed]]:
    started: list[Managed] = []

    def start(name: str = "primary", data: Path | None = None, env: dict[str, str] | None = None) -> RunningStore:
        data = data or base / f"data-{name}"
        proc = store_process(name, free_port(), data, base / "logs")
        proc.env.update(env or {})
        started.append(proc)
        proc.start(wait=30)
        return RunningStore(proc, data)

    return start, started


@pytest.fixture
def start_store(tmp_path: Path) -> Iterator[StartStore]:
    """Start stores for one test; every process started is stopped (by its PID) afterwards."""
    start, started = _starter(tmp_path)
    yield start
    for proc in started:
        proc.stop(timeout=5)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStore]:
    """One store shared by a test module; tests isolate themselves by collection name."""
    start, started = _starter(tmp_path_factory.mktemp("store"))
    yield start()
    for proc in started:
        proc.stop(timeout=5)


@pytest.fixture(scope="module")
def client(store: RunningStore) -> Iterator[QdrantClient]:
    qdrant = store.client()
    yield qdrant
    qdrant.close()


@pytest.fixture
def name() -> str:
    """A fresh collection name."""
    return f"c_{uuid.uuid4().hex[:12]}"
