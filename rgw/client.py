"""`GatewayClient` / `AsyncGatewayClient`: the gateway's own search endpoint, with provenance.

    with GatewayClient("http://127.0.0.1:6333") as gw:
        result = gw.search("articles", text="reset my password", vector=embed(...), limit=5)
        print(result.source, result.mode, result.coverage, result.staleness_s)
        for hit in result.hits:
            print(hit.id, hit.score, hit.payload)

Sending the text along with the vector is what lets the lexical fallback answer when no
vector store can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx


@dataclass(frozen=True, slots=True)
class Hit:
    id: int | str
    score: float
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    source: str  # "primary", "partial:primary", "cache", "lexical", ...
    mode: str  # "normal", "failover", "partial", "cache", "lexical"
    coverage: float
    staleness_s: float


class GatewayError(Exception):
    """The gateway refused or could not answer; `status` is the HTTP status, `message` Qdrant's error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _request(text: str | None, vector: list[float] | dict[str, Any] | None, filter: dict[str, Any] | None,
             limit: int, with_payload: bool | list[str], using: str | None) -> dict[str, Any]:
    if text is None and vector is None:
        raise ValueError("search needs text, a vector, or both")
    body: dict[str, Any] = {"limit": limit, "with_payload": with_payload}
    for key, value in (("text", text), ("vector", vector), ("filter", filter), ("using", using)):
        if value is not None:
            body[key] = value
    return body


def _result(status: int, payload: dict[str, Any]) -> SearchResult:
    if status != 200:
        message = payload.get("status", {}).get("error", str(payload)) if isinstance(payload, dict) else str(payload)
        raise GatewayError(status, message)
    result = payload["result"]
    hits = [Hit(p["id"], float(p["score"]), p.get("payload")) for p in result["points"]]
    return SearchResult(hits, result["source"], result["mode"], float(result["coverage"]),
                        float(result["staleness_s"]))


def _min_lsn_header(min_lsn: int | None) -> dict[str, str]:
    return {} if min_lsn is None else {"X-Gateway-Min-LSN": str(min_lsn)}


class GatewayClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def search(self, collection: str, text: str | None = None, vector: list[float] | dict[str, Any] | None = None,
               filter: dict[str, Any] | None = None, limit: int = 10, with_payload: bool | list[str] = True,
               using: str | None = None, min_lsn: int | None = None) -> SearchResult:
        response = self._http.post(f"/gateway/collections/{collection}/search",
                                   json=_request(text, vector, filter, limit, with_payload, using),
                                   headers=_min_lsn_header(min_lsn))
        return _result(response.status_code, response.json())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGatewayClient:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def search(self, collection: str, text: str | None = None,
                     vector: list[float] | dict[str, Any] | None = None, filter: dict[str, Any] | None = None,
                     limit: int = 10, with_payload: bool | list[str] = True, using: str | None = None,
                     min_lsn: int | None = None) -> SearchResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(f"{self._url}/gateway/collections/{collection}/search",
                                      json=_request(text, vector, filter, limit, with_payload, using),
                                      headers=_min_lsn_header(min_lsn)) as response:
            return _result(response.status, await response.json(content_type=None))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
