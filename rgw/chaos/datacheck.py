"""Nothing acknowledged is lost: every acknowledged point, read back from every region store directly.

Two independent checks after convergence. Ours scrolls each store itself (not through the
gateway or a fault proxy) and compares every acknowledged point with exactly what the client sent.
`rgw verify` then compares every region with the journal's own truth and with each other, which
also catches what ours cannot: extra points, and unacknowledged writes applied to one region only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

from rgw.chaos.workload import Workload
from rgw.procs import rgw_argv

PAGE = 1000
VECTOR_TOLERANCE = 1e-5  # cosine collections normalise on write: a unit vector may move in the last bit
VERIFY_TIMEOUT_S = 300.0
SHOWN = 10


@dataclass
class RegionCheck:
    region: str
    points: int = 0
    missing: list[int] = field(default_factory=list)
    differing: list[int] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"region": self.region, "points": self.points, "missing": len(self.missing),
                "differing": len(self.differing), "first_missing": sorted(self.missing)[:SHOWN],
                "first_differing": sorted(self.differing)[:SHOWN], "error": self.error}


@dataclass
class LossReport:
    acked: int
    regions: list[RegionCheck]
    lost: int  # acknowledged points missing or different in at least one region

    def as_dict(self) -> dict[str, Any]:
        return {"acked_points": self.acked, "lost": self.lost, "regions": [r.as_dict() for r in self.regions]}


async def scroll_store(session: aiohttp.ClientSession, url: str, collection: str) -> dict[int, dict[str, Any]]:
    """Every point of `collection` in the store at url: id -> record (payload and vector)."""
    out: dict[int, dict[str, Any]] = {}
    offset: Any = None
    while True:
        body = {"limit": PAGE, "with_payload": True, "with_vector": True, **({"offset": offset} if offset else {})}
        async with session.post(f"{url}/collections/{collection}/points/scroll", json=body) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"scroll answered {resp.status}: {raw[:200].decode(errors='replace')}")
        result = orjson.loads(raw)["result"]
        for record in result["points"]:
            out[int(record["id"])] = record
        offset = result.get("next_page_offset")
        if offset is None:
            return out


def compare(region: str, held: dict[int, dict[str, Any]], acked: list[int], workload: Workload) -> RegionCheck:
    check = RegionCheck(region, points=len(held))
    for i in acked:
        record = held.get(i)
        if record is None:
            check.missing.append(i)
            continue
        vector = np.asarray(record.get("vector") or [], dtype=np.float32)
        if record.get("payload") != workload.payloads[i] or vector.shape != workload.vectors[i].shape or \
                not np.allclose(vector, workload.vectors[i], atol=VECTOR_TOLERANCE):
            check.differing.append(i)
    return check


async def check_acked(store_urls: dict[str, str], collection: str, acked: list[int],
                      workload: Workload) -> LossReport:
    checks = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        for region, url in store_urls.items():
            try:
                held = await scroll_store(session, url, collection)
            except (aiohttp.ClientError, TimeoutError, RuntimeError, KeyError) as exc:
                checks.append(RegionCheck(region, missing=list(acked), error=f"{type(exc).__name__}: {exc}"))
                continue
            checks.append(compare(region, held, acked, workload))
    lost = set().union(*(set(c.missing) | set(c.differing) for c in checks)) if checks else set()
    return LossReport(len(acked), checks, len(lost))


@dataclass
class VerifyResult:
    exit_code: int
    drift: bool
    summary: dict[str, Any]  # per region: points, missing, extra, differing
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "drift": self.drift, "summary": self.summary, "error": self.error}


async def run_verify(config_path: Path, collection: str, wait_s: float = 60.0) -> VerifyResult:
    """`rgw verify --json` as a subprocess, exactly as an operator would run it."""
    argv = rgw_argv("verify", "--config", str(config_path), "--collection", collection, "--json",
                    "--wait-s", str(wait_s))
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), VERIFY_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return VerifyResult(-1, True, {}, f"rgw verify did not finish within {VERIFY_TIMEOUT_S:.0f}s")
    code = proc.returncode if proc.returncode is not None else -1
    try:
        report = orjson.loads(out)
    except orjson.JSONDecodeError:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        return VerifyResult(code, True, {}, f"rgw verify exited {code}: {' | '.join(tail)}")
    final = report.get("after") or report["before"]
    summary = {}
    for c in final["collections"]:
        summary["truth_points"] = c["truth_points"]
        for r in c["regions"]:
            summary[r["region"]] = {"points": r["points"], "missing": r["missing"]["count"],
                                    "extra": r["extra"]["count"], "differing": r["differing"]["count"],
                                    "error": r["error"]}
    return VerifyResult(code, bool(report["drift"]), summary)
