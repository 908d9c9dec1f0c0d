"""TLS end to end: qdrant-client over HTTPS with a key to the gateway, and the gateway to an https region
verified against its CA; the client's credentials never reach a region, the region's never reach a client."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from rgw.topology import TlsFiles, local_topology
from tests.auth.certs import make_tls
from tests.http.recording import RecordingProxy
from tests.proxy.helpers import DIM

KEY = "tls-test-key-0123456789abcdef0123456789ab"
REGION_KEY = "region-key-never-shown-to-clients"


class TlsTerminator:
    """A TLS endpoint in front of a plain one: what an https region looks like to the gateway."""

    def __init__(self, tls: TlsFiles, upstream_port: int) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(tls.cert, tls.key)
        self._upstream = upstream_port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> TlsTerminator:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self._context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._link(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError, ssl.SSLError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@pytest.fixture
async def tls_world(tmp_path: Path) -> AsyncIterator[tuple]:
    tls = make_tls(tmp_path / "tls")
    topo = local_topology(tmp_path / "topology", extra_config=f'\n[auth]\napi_key = "{KEY}"\n', tls=tls)
    store_port = topo.store_ports["primary"]
    recorder = await RecordingProxy(store_port).start()
    terminator = await TlsTerminator(tls, recorder.port).start()
    topo.store_ports["primary"] = terminator.port
    topo.region_tls["primary"] = tls.ca
    for region in topo.stores:
        topo.region_lines[region] = f'api_key = "{REGION_KEY}"'
    await asyncio.to_thread(topo.start)
    try:
        yield topo, tls, recorder
    finally:
        await asyncio.to_thread(topo.stop)
        await terminator.stop()
        await recorder.stop()


async def test_qdrant_client_over_https_with_a_key_and_an_https_region(tls_world: tuple) -> None:
    topo, tls, recorder = tls_world
    assert topo.gateway_url.startswith("https://")
    trust = ssl.create_default_context(cafile=str(tls.ca))

    def session() -> None:
        client = QdrantClient(url=topo.gateway_url, api_key=KEY, prefer_grpc=False, timeout=30,
                              check_compatibility=False, verify=trust)
        client.create_collection("secure", vectors_config=models.VectorParams(size=DIM,
                                                                              distance=models.Distance.COSINE))
        client.upsert("secure", wait=True, points=[models.PointStruct(id=i, vector=[1.0 + i] * DIM) for i in range(5)])
        assert len(client.query_points("secure", query=[1.0] * DIM, limit=3).points) == 3
        with pytest.raises(UnexpectedResponse) as caught:
            QdrantClient(url=topo.gateway_url, prefer_grpc=False, check_compatibility=False,
                         verify=trust).get_collections()
        assert caught.value.status_code == 401
        client.close()

    await asyncio.to_thread(session)
    # Plain HTTP to the TLS port gets nowhere; a client that does not trust the CA refuses the gateway.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{topo.gateway_port}/readyz", timeout=5)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{topo.gateway_url}/readyz", timeout=5)
    # TLS 1.2 is the floor.
    old = ssl.create_default_context(cafile=str(tls.ca))
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{topo.gateway_url}/readyz", verify=old, timeout=5)
    # The https region (primary) was reached through its TLS endpoint; every request it got carried the
    # region's key, none carried the client's.
    sent = b"".join(bytes(stream) for stream in recorder.streams)
    assert b"PUT /collections/secure" in sent or b"/collections/secure/points" in sent
    assert KEY.encode() not in sent
    assert sent.count(b"api-key: " + REGION_KEY.encode()) >= len(recorder.requests()) > 0
    status = httpx.get(f"{topo.gateway_url}/gateway/status", headers={"api-key": KEY}, verify=trust).text
    assert REGION_KEY not in status and KEY not in status
    assert "https://127.0.0.1" in status  # the region's address is shown, never how to get in
