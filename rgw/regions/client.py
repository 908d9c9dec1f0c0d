"""The hop to one region: send request bytes, get response bytes back, classify failures."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from rgw.http.client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    ConnectionFailed,
    ConnectionReset,
    Exchange,
    Pool,
    ProtocolViolation,
    Response,
    header_line,
)
from rgw.regions.attempts import Outcome
from rgw.settings.config import Region


class InFlight(Protocol):
    """One request under way to a region (rgw.http.client.Exchange)."""

    error: ConnectionFailed | ProtocolViolation | None
    response: Response | None

    @property
    def finished(self) -> bool: ...

    def cancel(self) -> None: ...


class Upstream(Protocol):
    """A region as the read router uses it: a name, and requests started without awaiting (RegionClient)."""

    name: str

    def start(self, method: str, path_qs: str, body: bytes | None, on_done: Callable[[Any], None]) -> InFlight: ...


class UpstreamError(Exception):
    """A region did not produce an HTTP answer: refused, reset, timed out or spoke garbage."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(f"{outcome.value}: {detail}")
        self.outcome = outcome
        self.detail = detail


def upstream_error(exc: ConnectionFailed | ProtocolViolation) -> UpstreamError:
    if isinstance(exc, ProtocolViolation):
        return UpstreamError(Outcome.PROTOCOL_ERROR, str(exc))
    if isinstance(exc, ConnectionReset):
        return UpstreamError(Outcome.RESET, str(exc))
    return UpstreamError(Outcome.CONNECT_ERROR, str(exc))


def timed_out(timeout: float) -> UpstreamError:
    return UpstreamError(Outcome.TIMEOUT, f"no answer within {timeout:.2f}s")


def tls_context(region: Region) -> ssl.SSLContext | None:
    """Verification on, against `ca_file` when given, else the system's CAs; None for plain http."""
    if urlsplit(region.url).scheme != "https":
        return None
    context = ssl.create_default_context(cafile=region.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class RegionClient:
    """Keep-alive HTTP client for one region; bodies pass through untouched."""

    def __init__(self, region: Region, max_connections: int = 512,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.region = region
        self.name = region.name  # asked several times per query: an attribute, not a property call
        parts = urlsplit(region.url)
        assert parts.hostname is not None and parts.port is not None  # checked when the config loaded
        self._pool = Pool(parts.hostname, parts.port, tls=tls_context(region), max_connections=max_connections,
                          max_response_bytes=max_response_bytes)
        headers = header_line("Content-Type", "application/json")
        if region.api_key:
            headers += header_line("api-key", region.api_key)
        self._headers = headers

    async def send(self, method: str, path_qs: str, body: bytes | None, timeout: float) -> Response:
        try:
            async with asyncio.timeout(timeout):
                return await self._pool.request(method, path_qs, body, self._headers)
        except TimeoutError as exc:
            raise timed_out(timeout) from exc
        except (ConnectionFailed, ProtocolViolation) as exc:
            raise upstream_error(exc) from exc

    def start(self, method: str, path_qs: str, body: bytes | None,
              on_done: Callable[[Exchange], None]) -> Exchange:
        """Send without awaiting: `on_done` is called when the exchange ends by itself (see http.client.Exchange).

        The caller owns the timeout: it cancels the exchange and reports `timed_out`.
        """
        return self._pool.start(method, path_qs, body, self._headers, on_done)

    def close(self) -> None:
        self._pool.close()
