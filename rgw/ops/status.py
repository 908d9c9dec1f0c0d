"""`rgw status` and `rgw policy show`: the gateway's status document, fetched and shown to a person."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from typing import Any

import orjson

from rgw.auth.client import API_KEY_ENV, client_key, credential_headers


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
    lines += _operator_lines(status) + _backup_lines(status)
    lexical = status["lexical"]
    lines.append(f"lexical: applied lsn {lexical['applied_lsn']} (lag {lexical['lag_entries']} entries, "
                 f"{lexical['lag_seconds']:.1f}s); " + ", ".join(
                     f"{name} {c['documents']} docs" + (f" STALE ({c['stale']})" if c["stale"] else "")
                     for name, c in lexical["collections"].items()))
    cache = status["cache"]
    lines.append(f"cache: {cache['entries']} entries, {cache['bytes'] / 1e6:.1f} of {cache['max_bytes'] / 1e6:.0f} MB, "
                 f"{cache['hits_fresh']} fresh hits, {cache['hits_stale']} stale-if-error hits")
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
                    short = c.get("short_of")
                    if short:
                        cells.append(f"short{count}: {short['region']} holds {short['points']}")
                    else:
                        cells.append(("ready" if c["ready"] else f"not ready: {c['status']}") + count)
            rows.append((name, *cells))
        lines += _table(rows)
    return "\n".join(lines)


def _since(setting: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(setting["set_at"]))
    return f"since {when} (by {setting['by']})"


def _operator_lines(status: dict[str, Any]) -> list[str]:
    """Every operator override in force, with when it was set: nothing changed behind anyone's back."""
    state = status["operator"]
    points = {(c, r["name"]): info.get("points_count") for r in status["regions"]
              for c, info in r["collections"].items()}
    lines = []
    for collection, setting in sorted(state["forced"].items()):
        lines.append(f"  {collection}: forced to {setting['value']} {_since(setting)}")
    for region, setting in sorted(state["drained"].items()):
        lines.append(f"  region {region}: drained {_since(setting)}")
    for collection, marks in sorted(state["restoring"].items()):
        for region, mark in sorted(marks.items()):
            have = points.get((collection, region))
            progress = f"{have}/{mark['expected_points']} points" if have is not None else "progress unknown"
            lines.append(f"  {collection} on {region}: restoring, {progress}, {_since(mark)}")
    for collection, setting in sorted(state["policies"].items()):
        lines.append(f"  {collection}: policy overridden {setting['value']} {_since(setting)}")
    return ["", "operator overrides:", *lines] if lines else []


def _backup_lines(status: dict[str, Any]) -> list[str]:
    """Jobs under way or just finished, restores waiting for an operator, and what bundles exist."""
    backups = status.get("backups") or {}
    lines = []
    for job in backups.get("jobs", []):
        if job["state"] == "running":
            total = f"/{job['total']}" if job["total"] else ""
            eta = f", ETA {job['eta_s']:.0f}s" if job["eta_s"] is not None else ""
            lines.append(f"  {job['kind']} {job['collection']} on {job['region']}: {job['phase']} "
                         f"{job['done']}{total} {job['unit']}{eta}")
        elif job["state"] == "failed":
            lines.append(f"  {job['kind']} {job['collection']} on {job['region']}: FAILED: {job['error']}")
    for plan in backups.get("interrupted_restores", []):
        lines.append(f"  {plan['target']} on {plan['region']}: restore interrupted in {plan['phase']} "
                     "(rgw restore --resume or --rollback)")
    for region, held in sorted((r["name"], r["replication"].get("held") or {}) for r in status["regions"]):
        for collection, lsn in sorted(held.items()):
            lines.append(f"  {collection} on {region}: held at lsn {lsn} (backup or restore)")
    for collection, info in sorted(backups.get("bundles", {}).items()):
        lines.append(f"  {collection}: {info['count']} bundle(s), newest {info['newest']} "
                     f"({info['newest_age_s']:.0f}s old, lsn {info['newest_lsn']})")
    return ["", "backups:", *lines] if lines else []


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def fetch(url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """GET a gateway JSON document (with RGW_API_KEY when set); None (said on stderr) when the gateway cannot be
    reached or refuses."""
    request = urllib.request.Request(url, headers=credential_headers(client_key()))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        hint = f" (set {API_KEY_ENV} to a read credential)" if exc.code in (401, 403) else ""
        print(f"rgw: the gateway at {url} answered {exc.code}{hint}", file=sys.stderr)
        return None
    except (urllib.error.URLError, OSError) as exc:
        print(f"rgw: cannot reach the gateway at {url}: {exc}", file=sys.stderr)
        return None


def print_status(gateway_url: str, as_json: bool = False) -> int:
    status = fetch(gateway_url.rstrip("/") + "/gateway/status")
    if status is None:
        return 1
    print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode() if as_json else render(status))
    return 0


def print_policies(gateway_url: str, collection: str | None, as_json: bool = False) -> int:
    path = f"/gateway/policies/{collection}" if collection else "/gateway/policies"
    described = fetch(gateway_url.rstrip("/") + path)
    if described is None:
        return 1
    if as_json:
        print(orjson.dumps(described, option=orjson.OPT_INDENT_2).decode())
        return 0
    for name, item in described.items():
        policy = item["policy"]
        lines = [f"{name}: tier {policy['tier']}, chain {' -> '.join(item['chain'])}"
                 + (f"  [FORCED to {item['forced']}]" if item["forced"] else ""),
                 f"  min_coverage {policy['min_coverage']}, cache_ttl_s {policy['cache_ttl_s']}, "
                 f"stale_if_error_s {policy['stale_if_error_s']}, max_staleness_s {policy['max_staleness_s']}, "
                 f"text_field {policy['text_field']!r}, write_ack {policy['write_ack']}"]
        if item["override"]:
            lines.append(f"  overridden at runtime: {item['override']['value']} (by {item['override']['by']})")
        print("\n".join(lines))
    return 0
