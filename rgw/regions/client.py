"""The hop to one region: send request bytes, get response bytes back, classify failures."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

from rgw.http.client import ConnectionFailed, Exchange, Pool, ProtocolViolation, Response
from rgw.settings.config import Region


class UpstreamError(Exception):
    """A region did not produce an HTTP answer: refused, reset, timed out or spoke garbage."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # "connect" | "timeout" | "protocol"
        self.detail = detail


def upstream_error(exc: ConnectionFailed | ProtocolViolation) -> UpstreamError:
    if isinstance(exc, ProtocolViolation):
        return UpstreamError("protocol", str(exc))
    return UpstreamError("connect", str(exc))


def timed_out(timeout: float) -> UpstreamError:
    return UpstreamError("timeout", f"no answer within {timeout:.2f}s")


class RegionClient:
    """Keep-alive HTTP client for one region; bodies pass through untouched."""

    def __init__(self, region: Region, max_connections: int = 512) -> None:
        self.region = region
        self.name = region.name  # asked several times per query: an attribute, not a property call
        parts = urlsplit(region.url)
        assert parts.hostname is not None and parts.port is not None  # checked when the config loaded
        tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._pool = Pool(parts.hostname, parts.port, tls=tls, max_connections=max_connections)
        headers = "Content-Type: application/json\r\n"
        if region.api_key:
            headers += f"api-key: {region.api_key}\r\n"
        self._headers = headers.encode()

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
        """Send without awaiting: `on_done` is called when the exchange ends by itself (see http1.Exchange).

        The caller owns the timeout: it cancels the exchange and reports `timed_out`.
        """
        return self._pool.start(method, path_qs, body, self._headers, on_done)

    def close(self) -> None:
        self._pool.close()
