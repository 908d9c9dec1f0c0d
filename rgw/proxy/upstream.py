"""The hop to one region: send request bytes, get response bytes back, classify failures."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

from rgw.proxy.config import Region
from rgw.proxy.http1 import ConnectionFailed, Pool, ProtocolViolation, Response


class UpstreamError(Exception):
    """A region did not produce an HTTP answer: refused, reset, timed out or spoke garbage."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # "connect" | "timeout" | "protocol"
        self.detail = detail


class RegionClient:
    """Keep-alive HTTP client for one region; bodies pass through untouched."""

    def __init__(self, region: Region, max_connections: int = 512) -> None:
        self.region = region
        parts = urlsplit(region.url)
        assert parts.hostname is not None and parts.port is not None  # checked when the config loaded
        tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._pool = Pool(parts.hostname, parts.port, tls=tls, max_connections=max_connections)
        headers = "Content-Type: application/json\r\n"
        if region.api_key:
            headers += f"api-key: {region.api_key}\r\n"
        self._headers = headers.encode()

    @property
    def name(self) -> str:
        return self.region.name

    async def send(self, method: str, path_qs: str, body: bytes | None, timeout: float) -> Response:
        try:
            async with asyncio.timeout(timeout):
                return await self._pool.request(method, path_qs, body, self._headers)
        except TimeoutError as exc:
            raise UpstreamError("timeout", f"no answer within {timeout:.2f}s") from exc
        except ConnectionFailed as exc:
            raise UpstreamError("connect", str(exc)) from exc
        except ProtocolViolation as exc:
            raise UpstreamError("protocol", str(exc)) from exc

    def close(self) -> None:
        self._pool.close()
