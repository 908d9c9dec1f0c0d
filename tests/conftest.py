"""Fixtures shared by every test: real processes on free loopback ports, always cleaned up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rgw.topology import Topology, local_topology


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    """Two region stores and the gateway, started fresh for one test."""
    topo = local_topology(tmp_path / "topology")
    topo.start()
    try:
        yield topo
    finally:
        topo.stop()


@pytest.fixture(scope="module")
def shared_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """One topology for a whole module of tests that do not kill anything."""
    topo = local_topology(tmp_path_factory.mktemp("shared"))
    topo.start()
    try:
        yield topo
    finally:
        topo.stop()
