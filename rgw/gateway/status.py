"""`GET /gateway/status` and `/gateway/policies`: what the gateway believes about its regions and policies."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from rgw import __version__
from rgw.http.server import Reply, Request

if TYPE_CHECKING:
    from rgw.gateway.app import Gateway


def redacted(url: str) -> str:
    """A region's URL without user information or query: where it is, never how to get in."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}"


def snapshot(gateway: Gateway) -> dict[str, Any]:
    now = time.monotonic()
    regions = []
    for client in gateway.clients:
        health = gateway.book.regions[client.name]
        regions.append({
            "name": client.name,
            "url": redacted(client.region.url),
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
            "hedge_delay_ms": round(gateway.regions.hedge_delay(client) * 1000, 3),
            "drained": gateway.operator.drained(client.name),
            "collections": {
                name: {"present": c.present, "ready": c.ready, "status": c.status, "points_count": c.points_count,
                       "short_of": None if c.short_of is None else {"points": c.short_of[0], "region": c.short_of[1]},
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
        "operator": gateway.operator.snapshot(),
        "cache": gateway.cache.stats(),
        "lexical": {
            "applied_lsn": gateway.lexical_feeder.applied,
            "lag_entries": gateway.lexical_feeder.lag_entries(),
            "lag_seconds": round(gateway.lexical_feeder.lag_seconds(), 3),
            "last_error": gateway.lexical_feeder.last_error,
            "collections": {name: asdict(stats) for name, stats in gateway.lexical.stats().items()},
            "reindex": {name: job if isinstance(job, str) else asdict(job)
                        for name, job in gateway.reindex_jobs.items()},
        },
        "backups": gateway.backups.status(),
    }


def policies(gateway: Gateway, collection: str | None) -> dict[str, Any]:
    """Effective policy and chain per collection (the default's when none is named), with overrides."""
    names = [collection] if collection else sorted({*gateway.config.policies.collections,
                                                    *gateway.operator.state.policies})
    def describe(name: str | None) -> dict[str, Any]:
        key = name or ""
        override = gateway.operator.state.policies.get(key)
        return {"policy": asdict(gateway.operator.policy(key)), "chain": list(gateway.operator.chain(key)),
                "forced": gateway.operator.forced(key),
                "override": None if override is None else asdict(override)}

    out = {"default": describe(None)}
    out.update({name: describe(name) for name in names})
    return out


class StatusApi:
    """The status document and the effective policies, as routes of rgw.gateway.routes."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def status(self, request: Request, params: dict[str, str]) -> Reply:
        return Reply(200, orjson.dumps(snapshot(self._gateway)))

    async def policies(self, request: Request, params: dict[str, str]) -> Reply:
        return Reply(200, orjson.dumps(policies(self._gateway, params.get("collection_name"))))
