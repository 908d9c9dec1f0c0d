"""A real region store, the reference the filter evaluator is checked against."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rgw.procs import free_port, store_process


@dataclass(frozen=True)
class Reference:
    url: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The `result` of a Qdrant REST call; fails the test on an error status."""
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["result"]


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    base: Path = tmp_path_factory.mktemp("reference-store")
    proc = store_process("reference", free_port(), base / "data", base / "logs")
    proc.start(wait=30)
    try:
        yield Reference(proc.ready_url.removesuffix("/readyz"))
    finally:
        proc.stop(timeout=5)  # by the PID it was started with
