"""A TCP proxy on loopback that keeps every byte a client sent through it, per connection.

Put in front of a region store, it shows exactly which requests the gateway wrote on each pooled
connection: `requests()` parses them back with llhttp, so a smuggled second request, or a
request line holding what a name smuggled in, shows up as such.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httptools


@dataclass
class Sent:
    method: str
    target: str


@dataclass
class _Parse:
    requests: list[Sent] = field(default_factory=list)
    url: bytes = b""
    parser: httptools.HttpRequestParser | None = None

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        assert self.parser is not None
        self.requests.append(Sent(self.parser.get_method().decode(), self.url.decode("latin-1")))


class RecordingProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = upstream_port
        self._server: asyncio.Server | None = None
        self.streams: list[bytearray] = []  # what each client connection sent, in order
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._link(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = bytearray()
        self.streams.append(record)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)
        except OSError:
            writer.close()
            return

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, keep: bytearray | None) -> None:
            try:
                while data := await source.read(65536):
                    if keep is not None:
                        keep += data
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, up_writer, record), pump(up_reader, writer, None))

    def requests(self) -> list[Sent]:
        """Every request written through the proxy, parsed back; AssertionError if a stream is not HTTP."""
        sent: list[Sent] = []
        for stream in self.streams:
            parse = _Parse()
            parse.parser = httptools.HttpRequestParser(parse)
            try:
                parse.parser.feed_data(bytes(stream))
            except httptools.HttpParserError as exc:
                raise AssertionError(f"a region connection carried something that is not HTTP: {exc}: "
                                     f"{bytes(stream)[:300]!r}") from exc
            sent += parse.requests
        return sent
