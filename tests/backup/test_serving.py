"""While a restore runs, reads get partial answers with their true coverage, then normal ones again."""

from __future__ import annotations

import httpx
import pytest

from rgw.topology import Topology
from tests.backup.helpers import (
    COLLECTION,
    region_count,
    restore_under_way,
    wait_for,
)
from tests.journal.ingest import point

POLICY = f"""
[policies.collections.{COLLECTION}]
min_coverage = 0.5
"""


def query(topology: Topology) -> httpx.Response:
    return httpx.post(f"{topology.gateway_url}/collections/{COLLECTION}/points/query",
                      json={"query": point(7)["vector"], "limit": 5}, timeout=10)


@pytest.mark.gateway_config(POLICY)
def test_partial_answers_during_restore_carry_true_coverage(topo: Topology) -> None:
    # 100 entries the restore replays slowly.
    _, command = restore_under_way(topo, range(0, 800), range(800, 1000), batch=2, max_rate=8, replayed=8)
    topo.stores["secondary"].kill()  # now only the restoring copy can answer

    def partial_answer() -> httpx.Response | None:
        reply = query(topo)
        return reply if reply.headers.get("X-Gateway-Mode") == "partial" else None

    wait_for(lambda: partial_answer() is not None, 20, "a partial answer")
    reply = partial_answer()
    assert reply is not None and reply.status_code == 200
    assert reply.headers["X-Gateway-Source"] == "partial:primary"
    coverage = float(reply.headers["X-Gateway-Coverage"])
    have = region_count(topo, "primary")
    assert have is not None and 800 <= have < 1000
    assert 0.8 <= coverage < 1.0
    assert abs(coverage - have / 1000) <= 0.1  # health checks refresh the count every couple of seconds
    assert len(reply.json()["result"]["points"]) == 5

    _, stderr = command.communicate(timeout=60)
    assert command.returncode == 0, stderr
    assert region_count(topo, "primary") == 1000
    reply = query(topo)
    assert reply.status_code == 200
    assert (reply.headers["X-Gateway-Source"], reply.headers["X-Gateway-Mode"]) == ("primary", "normal")
