"""A fresh topology per test, its gateway's admin API on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rgw.topology import Topology
from tests.backup.helpers import started_topology


@pytest.fixture
def topo(tmp_path: Path) -> Iterator[Topology]:
    topology = started_topology(tmp_path / "topology")
    try:
        yield topology
    finally:
        topology.stop()
