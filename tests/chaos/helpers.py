"""Small tools for the fault proxy tests: raw loopback clients and bounded polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from rgw.chaos.endpoints import Endpoint

WAIT = 5.0  # upper bound on any wait for something that should happen promptly


def url(endpoint: Endpoint, path: str = "/") -> str:
    return f"http://{endpoint}{path}"


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll predicate until true; fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def raw_connection(endpoint: Endpoint) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A plain TCP client, for effects an HTTP client would hide (exact bytes, RST versus FIN)."""
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def http_get(path: str, version: str = "1.1") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: test\r\n\r\n".encode()


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything until EOF, bounded so a broken fault fails the test instead of hanging it."""
    async with asyncio.timeout(WAIT):
        return await reader.read()
