"""A fresh topology per test, its gateway's admin API on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rgw.topology import Topology
from tests.backup.helpers import started_topology


@pytest.fixture
def topo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    """Policies for the test's topology come from `@pytest.mark.gateway_config("...")`."""
    marker = request.node.get_closest_marker("gateway_config")
    topology = started_topology(tmp_path / "topology", extra_config=marker.args[0] if marker else "")
    try:
        yield topology
    finally:
        topology.stop()
