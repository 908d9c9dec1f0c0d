"""With auth on, the operator's tools still work from the gateway's config, bundles carry the collection's
access rules (no secrets) and a drill reports them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from qdrant_client import QdrantClient, models

from rgw.procs import rgw_argv
from rgw.topology import local_topology
from tests.proxy.helpers import DIM

KEY = "backup-auth-key-0123456789abcdef0123456789"
RO = "backup-read-only-key-0123456789"
AUTH = f"""
[auth]
api_key = "{KEY}"
read_only_api_key = "{RO}"
jwt_rbac = true

[auth.rate_limit.collections.docs]
requests_per_s = 500.0
burst = 1000
"""


def rgw(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """An operator command with only the config: no RGW_ADMIN_TOKEN, no RGW_API_KEY in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("RGW_ADMIN_TOKEN", "RGW_API_KEY")}
    return subprocess.run(rgw_argv(*args, "--config", str(config)), capture_output=True, text=True, timeout=240,
                          env=env)


def test_bundles_carry_access_rules_and_drills_report_them(tmp_path: Path) -> None:
    with local_topology(tmp_path / "topology", extra_config=AUTH) as topo:
        client = QdrantClient(url=topo.gateway_url, api_key=KEY, prefer_grpc=False, check_compatibility=False)
        client.create_collection("docs", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
        client.upsert("docs", wait=True, points=[models.PointStruct(id=i, vector=[float(i % 7)] * DIM,
                                                                    payload={"n": i}) for i in range(300)])
        client.close()
        status = rgw(topo.config_path, "status")  # --config gives rgw status the key it needs
        assert status.returncode == 0, status.stderr
        backup = rgw(topo.config_path, "backup", "create", "--collection", "docs", "--json")
        assert backup.returncode == 0, backup.stderr  # the admin API took the config's api key (global "m")
        bundle = Path(json.loads(backup.stdout)["result"]["path"])
        manifest = (bundle / "manifest.json").read_text()
        access = json.loads(manifest)["access"]
        assert access["auth"] == "on" and access["jwt_rbac"] is True
        assert "read_only_api_key" in access["read"] and "read_only_api_key" not in access["write"]
        assert "api_key" in access["manage"] and 'JWT listing docs with "rw"' in access["write"]
        assert access["rate_limit"]["requests_per_s"] == 500.0
        assert KEY not in manifest and RO not in manifest
        drill = rgw(topo.config_path, "drill", "--collection", "docs", "--json")
        assert drill.returncode == 0, drill.stderr
        result = json.loads(drill.stdout)["result"]
        assert result["access"] == access and result["access_now"] == access
        assert any(c["name"] == "access rules" and c["ok"] for c in result["checks"])
        report = Path(result["report"]["markdown"]).read_text()
        assert "Access rules in the bundle: auth on; read: api_key, read_only_api_key" in report
        assert "Access rules in force now: the same" in report
        log = (topo.base / "logs" / "gateway.log").read_text()
        audited = [json.loads(line.partition("rgw.audit: ")[2]) for line in log.splitlines() if "rgw.audit: " in line]
        assert any(a["op"] == "backup" and a["by"] == "api_key" and a["collection"] == "docs" for a in audited)
        assert any(a["op"] == "drill" and a["result"] == 202 for a in audited)
