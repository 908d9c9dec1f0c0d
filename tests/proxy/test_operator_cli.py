"""The operator commands run as a person runs them (`rgw mode`, `rgw region`, `rgw restore-mark`, `rgw policy`
as subprocesses), and what they set survives a gateway restart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rgw.topology import Topology, local_topology
from tests.journal.ingest import wait_converged
from tests.proxy.helpers import seed_collection

TOKEN = "operator-cli-token"
FORCED, MARKED, TUNED, PLAIN = "forced", "marked", "tuned", "plain"
POINTS = 200
WAIT_S = 20.0  # bound on waiting for what the gateway should do promptly


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Topology]:
    topology = local_topology(tmp_path / "topology")
    topology.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    with topology:
        yield topology


def rgw(gateway: Topology, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "rgw.cli", *args, "--gateway", gateway.gateway_url],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "RGW_ADMIN_TOKEN": TOKEN})
    assert done.returncode == 0, f"rgw {' '.join(args)}: {done.stderr}"
    return done


def answered_by(gateway: Topology, collection: str) -> tuple[str, str]:
    """(source, mode) of a query through the gateway."""
    reply = httpx.post(f"{gateway.gateway_url}/collections/{collection}/points/query",
                       json={"query": [0.5] * 8, "limit": 3}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.headers["X-Gateway-Source"], reply.headers["X-Gateway-Mode"]


def operator_state(gateway: Topology) -> dict[str, Any]:
    return httpx.get(f"{gateway.gateway_url}/gateway/status", timeout=10).json()["operator"]


def test_operator_commands_take_effect_at_once_and_survive_a_restart(gateway: Topology) -> None:
    for seed, name in enumerate((FORCED, MARKED, TUNED, PLAIN)):
        seed_collection(gateway.gateway_url, name, points=POINTS, seed=seed)
    assert {answered_by(gateway, name) for name in (FORCED, MARKED, TUNED, PLAIN)} == {("primary", "normal")}

    rgw(gateway, "region", "primary", "drain")
    assert answered_by(gateway, PLAIN) == ("secondary", "failover")
    rgw(gateway, "region", "primary", "undrain")
    assert answered_by(gateway, PLAIN) == ("primary", "normal")

    rgw(gateway, "mode", FORCED, "secondary")
    rgw(gateway, "restore-mark", MARKED, "primary", "--expected", str(POINTS * 2))
    rgw(gateway, "policy", "set", TUNED, 'chain=["secondary", "primary"]')

    def settings_hold() -> None:
        assert answered_by(gateway, FORCED) == ("secondary", "failover")
        assert answered_by(gateway, MARKED) == ("secondary", "failover")  # a restoring copy is no full source
        assert answered_by(gateway, TUNED) == ("secondary", "normal")  # first in its own chain
        assert answered_by(gateway, PLAIN) == ("primary", "normal")  # nothing else moved
        state = operator_state(gateway)
        assert state["forced"][FORCED]["value"] == "secondary"
        assert state["restoring"][MARKED]["primary"]["expected_points"] == POINTS * 2
        assert state["policies"][TUNED]["value"] == {"chain": ["secondary", "primary"]}
        assert all(s["set_at"] > 0 and s["by"] for s in (state["forced"][FORCED], state["policies"][TUNED]))

    settings_hold()
    gateway.gateway.stop()
    gateway.gateway.start()
    settings_hold()
    shown = rgw(gateway, "policy", "show", TUNED).stdout
    assert f"{TUNED}: tier standard, chain secondary -> primary" in shown, shown
    assert "overridden at runtime: {'chain': ['secondary', 'primary']}" in shown, shown

    rgw(gateway, "mode", FORCED, "auto")
    rgw(gateway, "restore-mark", MARKED, "primary", "--clear")
    rgw(gateway, "policy", "reset", TUNED)
    gateway.gateway.stop()
    gateway.gateway.start()
    assert operator_state(gateway) == {"forced": {}, "drained": {}, "restoring": {}, "policies": {}}
    assert {answered_by(gateway, name) for name in (FORCED, MARKED, TUNED, PLAIN)} == {("primary", "normal")}


async def test_a_restore_mark_set_by_the_cli_serves_partial_answers(gateway: Topology) -> None:
    seed_collection(gateway.gateway_url, MARKED, points=POINTS)
    await wait_converged(gateway.gateway_url)
    rgw(gateway, "restore-mark", MARKED, "primary", "--expected", str(POINTS * 5 // 4))  # coverage 0.8
    rgw(gateway, "region", "secondary", "drain")

    def partial_answer() -> httpx.Response | None:
        # Until the health checker has counted the marked copy, its coverage is unknown: a 503 says so.
        reply = httpx.post(f"{gateway.gateway_url}/collections/{MARKED}/points/query",
                           json={"query": [0.5] * 8, "limit": 3}, timeout=30)
        if reply.status_code == 503:
            assert "restored point count not known yet" in reply.text, reply.text
            return None
        return reply

    deadline = time.monotonic() + WAIT_S
    while (reply := partial_answer()) is None:
        assert time.monotonic() < deadline, "the marked copy was never counted"
        time.sleep(0.05)
    assert reply.status_code == 200, reply.text
    assert (reply.headers["X-Gateway-Source"], reply.headers["X-Gateway-Mode"]) == ("partial:primary", "partial")
    assert float(reply.headers["X-Gateway-Coverage"]) == pytest.approx(POINTS / (POINTS * 5 // 4))


def test_without_a_token_the_admin_api_is_off(tmp_path: Path) -> None:
    topology = local_topology(tmp_path / "topology")
    topology.gateway.env["RGW_ADMIN_TOKEN"] = ""  # nor in the config: the admin API must refuse everything
    with topology:
        seed_collection(topology.gateway_url, PLAIN, points=POINTS)
        admin = f"{topology.gateway_url}/gateway/admin"
        for method, path, body in (("POST", f"/collections/{PLAIN}/mode", {"source": "lexical"}),
                                   ("POST", "/regions/primary/drain", {}),
                                   ("POST", "/regions/primary/replication/pause", {}),
                                   ("PUT", f"/policies/{PLAIN}", {"tier": "critical"}),
                                   ("POST", "/journal/trim", {"below": 10}),
                                   ("POST", "/backups", {"collection": PLAIN})):
            for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": "Bearer wrong"}):
                reply = httpx.request(method, admin + path, json=body, headers=headers, timeout=10)
                assert reply.status_code == 403, (path, reply.text)
                assert "admin API is disabled" in reply.json()["status"]["error"]
        refused = subprocess.run([sys.executable, "-m", "rgw.cli", "mode", PLAIN, "lexical", "--gateway",
                                  topology.gateway_url], capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "RGW_ADMIN_TOKEN": TOKEN})
        assert refused.returncode == 1 and "admin API is disabled" in refused.stderr
        status = httpx.get(f"{topology.gateway_url}/gateway/status", timeout=10).json()
        assert status["operator"] == {"forced": {}, "drained": {}, "restoring": {}, "policies": {}}
        assert status["journal"]["oldest_lsn"] == 1
        assert not any(r["replication"]["paused"] for r in status["regions"])
        assert answered_by(topology, PLAIN) == ("primary", "normal")
