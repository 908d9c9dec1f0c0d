"""Qdrant's REST response envelope: the one builder of its shape, for the gateway and the region store.

`{"result": ..., "status": "ok", "time": seconds}` for answers, `{"status": {"error": message},
"time": seconds}` for errors.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from rgw.http.server import Fields, Reply

JSON = "application/json"


def ok_body(result: Any, started: float | None) -> bytes:
    elapsed = time.perf_counter() - started if started else 0.0
    return orjson.dumps({"result": result, "status": "ok", "time": elapsed})


def error_body(message: str, started: float | None = None) -> bytes:
    elapsed = time.perf_counter() - started if started else 0.0
    return orjson.dumps({"status": {"error": message}, "time": elapsed})


def ok(result: Any, started: float | None = None, status: int = 200, headers: Fields = ()) -> Reply:
    return Reply(status, ok_body(result, started), JSON, headers)


def error(status: int, message: str, started: float | None = None, headers: Fields = ()) -> Reply:
    return Reply(status, error_body(message, started), JSON, headers)


def error_message(body: bytes) -> str:
    """The error text out of a Qdrant error body, or the raw text when it is not one."""
    try:
        parsed = orjson.loads(body)
        return str(parsed["status"]["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")
