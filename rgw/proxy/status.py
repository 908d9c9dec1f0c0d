"""`GET /gateway/status` and `rgw status`: what the gateway believes about its regions."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from rgw import __version__

if TYPE_CHECKING:
    from rgw.proxy.server import Gateway


def snapshot(gateway: Gateway) -> dict[str, Any]:
    now = time.monotonic()
    regions = []
    for client in gateway.clients:
        health = gateway.book.regions[client.name]
        regions.append({
            "name": client.name,
            "url": client.region.url,
            "state": health.state(now),
            "active_check": {
                "healthy": health.active_healthy,
                "consecutive_ok": health.consecutive_ok,
                "consecutive_failures": health.consecutive_fail,
                "last_check_age_s": round(now - health.last_check_at, 3) if health.last_check_at else None,
            },
            "outlier": {
                "ejected": health.ejected(now),
                "ejected_for_s": round(max(0.0, health.ejected_until - now), 3),
                "ejections": health.ejections,
                "consecutive_errors": health.consecutive_errors,
                "half_open": health.half_open,
            },
            "last_error": health.last_error,
            "requests": {"ok": health.requests_ok, "failed": health.requests_failed},
            "latency_ms": {"p50": round(health.latency.p50 * 1000, 3), "p99": round(health.latency.p99 * 1000, 3),
                           "samples": health.latency.count},
            "hedge_delay_ms": round(gateway.reader.hedge_delay(client) * 1000, 3),
            "collections": {
                name: {"present": c.present, "ready": c.ready, "status": c.status, "points_count": c.points_count,
                       "age_s": round(now - c.seen_at, 3)}
                for name, c in sorted(health.collections.items())
            },
        })
    replication = gateway.replication.status()
    for region in regions:
        region["replication"] = replication["regions"][region["name"]]
    return {
        "gateway": {"version": __version__, "listen": gateway.config.listen,
                    "uptime_s": round(time.time() - gateway.started_at, 3)},
        "journal": replication["journal"],
        "regions": regions,
    }


def add_status_route(app: web.Application, gateway: Gateway) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(snapshot(gateway)), content_type="application/json")

    app.router.add_get("/gateway/status", handler)


def render(status: dict[str, Any]) -> str:
    """A person's view of the status JSON: one table of regions, one of collections."""
    gw, journal = status["gateway"], status["journal"]
    lines = [f"gateway {gw['version']} on {gw['listen']}, up {gw['uptime_s']:.0f}s",
             f"journal: head lsn {journal['head_lsn']}, oldest retained {journal['oldest_lsn']}, "
             f"{journal['size_bytes'] / 1e6:.1f} MB", ""]
    header = ("REGION", "STATE", "APPLIED", "LAG", "LAG S", "P50 MS", "P99 MS", "OK", "FAILED", "EJECTIONS",
              "LAST ERROR")
    rows = [header]
    for r in status["regions"]:
        rep = r["replication"]
        state = r["state"] + (" paused" if rep["paused"] else "") + (" DIVERGED" if rep["diverged"] else "")
        rows.append((r["name"], state, str(rep["applied_lsn"]), str(rep["lag_entries"]),
                     f"{rep['lag_seconds']:.1f}", f"{r['latency_ms']['p50']:.2f}", f"{r['latency_ms']['p99']:.2f}",
                     str(r["requests"]["ok"]), str(r["requests"]["failed"]), str(r["outlier"]["ejections"]),
                     (r["last_error"] or rep["last_error"] or "-")[:60]))
    lines += _table(rows)
    for r in status["regions"]:
        rep = r["replication"]
        if rep["diverged"]:
            lines.append(f"  {r['name']} diverged: {rep['diverged_reason']} "
                         f"({rep['dead_letters_total']} dead letters)")
    names = sorted({c for r in status["regions"] for c in r["collections"]})
    if names:
        lines.append("")
        rows = [("COLLECTION", *(r["name"].upper() for r in status["regions"]))]
        for name in names:
            cells = []
            for r in status["regions"]:
                c = r["collections"].get(name)
                if r["state"] in ("unhealthy", "ejected"):
                    cells.append(f"unknown: region {r['state']}")
                elif c is None:
                    cells.append("?")
                elif not c["present"]:
                    cells.append("missing")
                else:
                    count = "" if c["points_count"] is None else f" ({c['points_count']} points)"
                    cells.append(("ready" if c["ready"] else f"not ready: {c['status']}") + count)
            rows.append((name, *cells))
        lines += _table(rows)
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def print_status(gateway_url: str, as_json: bool = False) -> int:
    url = gateway_url.rstrip("/") + "/gateway/status"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            status = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        print(f"rgw status: cannot reach the gateway at {url}: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode() if as_json else render(status))
    return 0
