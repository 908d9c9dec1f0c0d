"""The operator commands' side of the admin API: one authenticated call, printed for a person or as JSON."""

from __future__ import annotations

import re
import sys
import time
import tomllib
import urllib.error
import urllib.request
from typing import Any

import orjson

from rgw.auth.admin import TOKEN_ENV, admin_token
from rgw.auth.client import API_KEY_ENV, client_key
from rgw.ops.status import fetch
from rgw.qdrant.envelope import error_message


class AdminError(Exception):
    """The gateway could not be reached, or refused the call; the message says which and why."""


def admin_request(gateway_url: str, method: str, path: str, body: Any | None = None, timeout: float = 30,
                  token: str | None = None) -> Any:
    """One authenticated admin call (with `token`, else the environment's admin token, else its RGW_API_KEY: the
    admin API also takes a global "m" credential); its `result`."""
    token = token or admin_token(None) or client_key()
    if token is None:
        raise AdminError(f"set {TOKEN_ENV} to the gateway's admin token, or {API_KEY_ENV} to its api key (or give "
                         "--config with gateway.admin_token)")
    request = urllib.request.Request(
        gateway_url.rstrip("/") + path, method=method, data=None if body is None else orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            payload = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise AdminError(f"gateway answered {exc.code}: {error_message(exc.read()[:2000])}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise AdminError(f"cannot reach the gateway at {gateway_url}: {exc}") from None
    return payload.get("result", payload)


def admin_call(gateway_url: str, method: str, path: str, body: Any | None = None, as_json: bool = False,
               quiet: bool = False) -> int:
    try:
        result = admin_request(gateway_url, method, path, body)
    except AdminError as exc:
        print(f"rgw: {exc}", file=sys.stderr)
        return 1
    if quiet:
        return 0
    if as_json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # taken as a string when it is not TOML: tier=critical


def policy_fields(settings: list[str]) -> dict[str, Any]:
    """`key=value` pairs as policy fields, each value a TOML value (`30`, `0.5`, `"text"`, `["primary", "cache"]`);
    a bare word that is no TOML value is a string. Raises ValueError naming the pair; the gateway
    validates keys and values as it validates its configuration."""
    fields: dict[str, Any] = {}
    for setting in settings:
        key, sep, raw = setting.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise ValueError(f"{setting!r}: expected key=value, e.g. cache_ttl_s=30 or tier=critical")
        if key == "reset":
            raise ValueError("`reset` is not a policy field; `rgw policy reset COLLECTION` drops the override")
        if key in fields:
            raise ValueError(f"{key}: given twice")
        try:
            fields[key] = tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            if not _BARE_WORD.fullmatch(raw):
                raise ValueError(f"{setting!r}: {raw!r} is not a TOML value (quote strings: text_field='\"body\"'; "
                                 "lists: chain='[\"primary\", \"cache\"]')") from None
            fields[key] = raw
    return fields


def reindex_lexical(gateway_url: str, collection: str, region: str, as_json: bool = False,
                    timeout_s: float = 3600.0) -> int:
    """Start a lexical rebuild from a region, follow its progress, end with a summary."""
    started = time.monotonic()
    code = admin_call(gateway_url, "POST", f"/gateway/admin/lexical/{collection}/reindex", {"from": region},
                      as_json=False, quiet=True)
    if code:
        return code
    job: Any = None
    while time.monotonic() - started < timeout_s:
        status = fetch(gateway_url.rstrip("/") + "/gateway/status", timeout=10)
        if status is None:
            return 1
        job = status["lexical"]["reindex"].get(collection)
        if isinstance(job, str) or (isinstance(job, dict) and job["done"]):
            break
        if isinstance(job, dict):
            expected = f"/{job['expected']}" if job["expected"] is not None else ""
            print(f"\r  reindexing {collection} from {region}: {job['indexed']}{expected} points", end="",
                  file=sys.stderr, flush=True)
        time.sleep(0.5)
    print(file=sys.stderr)
    seconds = time.monotonic() - started
    if not isinstance(job, dict) or not job["done"]:
        reason = job if isinstance(job, str) else f"not done after {timeout_s:.0f}s"
        print(f"rgw: lexical reindex of {collection} {reason}", file=sys.stderr)
        return 1
    summary = {"collection": collection, "from": region, "indexed": job["indexed"], "seconds": round(seconds, 2),
               "points_per_s": round(job["indexed"] / seconds, 1) if seconds else None}
    if as_json:
        print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"reindexed {collection} from {region}: {job['indexed']} points in {seconds:.1f}s "
              f"({summary['points_per_s']} points/s)")
    return 0
