"""API fuzzing: schemathesis against the gateway from Qdrant's own 1.19 specification, bounded.

A few generated requests per operation (valid and not), against the real gateway over two real
stores. No answer may be a server error: a 501 naming a feature not implemented is the one 5xx
allowed, since that is the answer itself (as Qdrant gives it for what a build lacks). Afterwards the
gateway still serves and `rgw verify` finds both regions agreeing with the journal.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from rgw.topology import Topology, local_topology
from tests.proxy.helpers import seed_collection

SPEC = Path(__file__).parents[1] / "data" / "qdrant-openapi-1.19.json"
SCHEMA = schemathesis.openapi.from_path(SPEC)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topo = local_topology(tmp_path_factory.mktemp("fuzz"))
    topo.start()
    try:
        seed_collection(topo.gateway_url, "fuzz", points=20)
        yield topo
    finally:
        topo.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@SCHEMA.parametrize()
@settings(max_examples=6, deadline=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck), database=None)
def test_no_request_makes_the_gateway_fail(case: schemathesis.Case, fuzzed: Topology,
                                           session: requests.Session) -> None:
    response = case.call(base_url=fuzzed.gateway_url, session=session, timeout=30)
    status = response.status_code
    if status == 501:
        assert "Not implemented" in orjson.loads(response.content)["status"]["error"], response.text[:300]
        return
    assert status < 500, (case.method, case.formatted_path, status, response.text[:300])
    if status >= 400:
        assert "error" in orjson.loads(response.content)["status"], response.text[:300]


def test_after_fuzzing_the_gateway_serves_and_the_regions_agree_with_the_journal(fuzzed: Topology) -> None:
    status = requests.get(f"{fuzzed.gateway_url}/gateway/status", timeout=10).json()
    proc = subprocess.run([sys.executable, "-m", "rgw.cli", "verify", "--config", str(fuzzed.config_path), "--json",
                           "--wait-s", "30"], capture_output=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout.decode()[-2000:], proc.stderr.decode()[-2000:])
    assert "Traceback" not in fuzzed.gateway.log_path.read_text()
    assert all(not r["replication"]["diverged"] for r in status["regions"])
