"""The operator commands' side of the admin API: one authenticated call, printed for a person or as JSON."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from typing import Any

import orjson

from rgw.proxy.admin import TOKEN_ENV, admin_token


def admin_call(gateway_url: str, method: str, path: str, body: Any | None = None, as_json: bool = False) -> int:
    token = admin_token(None)
    if token is None:
        print(f"rgw: set {TOKEN_ENV} to the gateway's admin token", file=sys.stderr)
        return 2
    request = urllib.request.Request(
        gateway_url.rstrip("/") + path, method=method, data=None if body is None else orjson.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            payload = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        print(f"rgw: gateway answered {exc.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"rgw: cannot reach the gateway at {gateway_url}: {exc}", file=sys.stderr)
        return 1
    result = payload.get("result", payload)
    if as_json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
