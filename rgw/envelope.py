"""Qdrant's REST response envelope, shared by the region store and the gateway."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"


def ok(result: Any, started: float, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """`{"result": ..., "status": "ok", "time": seconds}` as Qdrant answers."""
    body = orjson.dumps({"result": result, "status": "ok", "time": time.perf_counter() - started})
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error(status: int, message: str, started: float | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    """`{"status": {"error": message}, "time": seconds}` as Qdrant answers errors."""
    elapsed = time.perf_counter() - started if started is not None else 0.0
    body = orjson.dumps({"status": {"error": message}, "time": elapsed})
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def error_message(body: bytes) -> str:
    """The error text out of a Qdrant error body, or the raw text when it is not one."""
    try:
        parsed = orjson.loads(body)
        return str(parsed["status"]["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")
