"""`rgw policy set` and `rgw policy reset` against a real gateway: validated as the config is, at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from rgw.topology import Topology, local_topology

COLLECTION = "docs"
TOKEN = "policy-token"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topo = local_topology(tmp_path_factory.mktemp("policy"), regions=("primary",))
    topo.gateway.env["RGW_ADMIN_TOKEN"] = TOKEN
    with topo:
        yield topo


def rgw(gateway: Topology, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rgw.cli", "policy", *args, "--gateway", gateway.gateway_url],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "RGW_ADMIN_TOKEN": token})


def described(gateway: Topology) -> dict[str, Any]:
    return httpx.get(f"{gateway.gateway_url}/gateway/policies/{COLLECTION}", timeout=10).json()[COLLECTION]


def test_set_merges_validated_fields_and_reset_goes_back_to_the_config(gateway: Topology) -> None:
    done = rgw(gateway, "set", COLLECTION, "tier=critical", "cache_ttl_s=30", "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["cache_ttl_s"] == 30.0  # a TOML integer, taken as the float it must be
    policy = described(gateway)
    assert policy["override"]["value"] == {"tier": "critical", "cache_ttl_s": 30}
    assert "lexical" not in policy["chain"]  # critical: never lexical

    done = rgw(gateway, "set", COLLECTION, 'chain=["primary", "cache"]', 'text_field="body"')
    assert done.returncode == 0, done.stderr
    assert "text_field: body" in done.stdout
    policy = described(gateway)
    assert policy["chain"] == ["primary", "cache"]
    assert policy["policy"]["tier"] == "critical" and policy["policy"]["cache_ttl_s"] == 30.0  # merged

    done = rgw(gateway, "reset", COLLECTION)
    assert done.returncode == 0, done.stderr
    policy = described(gateway)
    assert policy["override"] is None and policy["policy"]["tier"] == "standard"
    assert policy["chain"][-1] == "lexical"


@pytest.mark.parametrize(("settings", "code", "said"), [
    (["min_coverage=3"], 1, "min_coverage: expected 0..1"),
    (["nope=1"], 1, "nope: unknown key"),
    (["tier=gold"], 1, "tier: expected one of"),
    (["cache_ttl_s=soon"], 1, "cache_ttl_s: expected float, got str"),
    (['chain=["primary", "elsewhere"]'], 1, "unknown source 'elsewhere'"),
    (["cache_ttl_s"], 2, "expected key=value"),
    (["chain=[primary"], 2, "is not a TOML value"),
    (["cache_ttl_s=1", "cache_ttl_s=2"], 2, "given twice"),
    (["reset=true"], 2, "rgw policy reset"),
])
def test_bad_settings_are_refused_and_change_nothing(gateway: Topology, settings: list[str], code: int,
                                                     said: str) -> None:
    before = described(gateway)
    done = rgw(gateway, "set", COLLECTION, "stale_if_error_s=5", *settings)  # nothing of it applies
    assert done.returncode == code and said in done.stderr, (done.returncode, done.stderr)
    assert described(gateway) == before


def test_a_wrong_token_changes_nothing(gateway: Topology) -> None:
    before = described(gateway)
    for command in (["set", COLLECTION, "cache_ttl_s=5"], ["reset", COLLECTION]):
        done = rgw(gateway, *command, token="wrong")
        assert done.returncode == 1 and "401" in done.stderr
    assert described(gateway) == before
