"""Qdrant's REST envelope as aiohttp responses, for the region store (rgw.qdrant.envelope builds the bodies)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rgw.qdrant.envelope import JSON, error_body, error_message, ok_body

__all__ = ["error", "error_message", "ok"]


def ok(result: Any, started: float, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """`{"result": ..., "status": "ok", "time": seconds}` as Qdrant answers."""
    return web.Response(body=ok_body(result, started), status=status, content_type=JSON, headers=headers)


def error(status: int, message: str, started: float | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    """`{"status": {"error": message}, "time": seconds}` as Qdrant answers errors."""
    return web.Response(body=error_body(message, started), status=status, content_type=JSON, headers=headers)
