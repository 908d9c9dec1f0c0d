"""A TCP proxy in front of one backend that injects faults into chosen connections (our Toxiproxy).

Each accepted connection becomes a Link: the client socket, a fresh backend socket, and one pump per
direction. Faults are switched at runtime; a fault hits a connection with probability `toxicity`,
drawn once per connection, either at accept or, for connections already open, when it is added.
A link no fault hits forwards on the plain path: one large read, one write, no per-chunk work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from dataclasses import dataclass

from rgw.chaos.effects import Effect, make_effect, run_chain
from rgw.chaos.endpoints import Endpoint
from rgw.chaos.faults import FAULT_KINDS, Direction, Fault, check_name, fault_to_dict

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024  # large reads: a bulk transfer costs a few syscalls, not thousands
_LINGER_ZERO = struct.pack("ii", 1, 0)  # SO_LINGER on with timeout 0: close() sends RST, not FIN


class NameTaken(ValueError):
    """A proxy or fault with this name already exists."""


@dataclass
class ProxyStats:
    accepted: int = 0
    active: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    faults_applied: int = 0  # (connection, fault) pairs the toxicity draw selected

    def count(self, direction: Direction, n: int) -> None:
        if direction is Direction.UPSTREAM:
            self.bytes_up += n
        else:
            self.bytes_down += n


@dataclass(eq=False)
class _ActiveFault:
    """An added fault; compared by identity so a re-added fault of the same name is a new one."""

    fault: Fault
    applied: int = 0


class Link:
    """One client connection and the backend connection opened for it."""

    def __init__(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.client_reader = client_reader
        self.client_writer = client_writer
        self.backend_reader: asyncio.StreamReader | None = None
        self.backend_writer: asyncio.StreamWriter | None = None
        self.effects: dict[_ActiveFault, Effect] = {}
        self.closed = False

    def _writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client_writer, self.backend_writer) if w is not None]

    def chain(self, direction: Direction) -> list[Effect]:
        return [e for e in self.effects.values() if e.fault.direction.covers(direction)]

    def close(self) -> None:
        """Close both sides once what was already written is flushed (FIN)."""
        if not self.closed:
            self.closed = True
            for writer in self._writers():
                writer.close()

    def reset(self) -> None:
        """Drop both sides now; the client gets a TCP RST."""
        if self.closed:
            return
        sock = self.client_writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # the peer may already be gone: nothing left to reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        self.abort()

    def abort(self) -> None:
        """Drop both sides now, even if a graceful close is still flushing."""
        self.closed = True
        for writer in self._writers():
            writer.transport.abort()

    async def wait_closed(self) -> None:
        for writer in self._writers():
            with contextlib.suppress(OSError):  # how the socket died is the pump's business, not ours
                await writer.wait_closed()


class FaultProxy:
    """Listens on `listen`, forwards every connection to `upstream`, and applies the current faults.

    stop() doubles as the `refuse` fault: the port is closed (connections refused) and open
    connections are cut; start() again listens on the same port.
    """

    def __init__(self, name: str, listen: Endpoint | str, upstream: Endpoint | str,
                 rng: random.Random | None = None) -> None:
        self.name = check_name("name", name)
        self.listen = Endpoint.coerce(listen, "listen")
        self.upstream = Endpoint.coerce(upstream, "upstream")
        if self.upstream.port == 0:
            raise ValueError("upstream: port must be 1-65535, got 0")
        self.stats = ProxyStats()
        self._rng = rng or random.Random()
        self._faults: dict[str, _ActiveFault] = {}
        self._links: dict[Link, asyncio.Task[None]] = {}
        self._server: asyncio.Server | None = None

    # -- listening --------------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen (again). Port 0 is resolved on the first start so a restart reuses the same port."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.listen.host, self.listen.port,
                                                  limit=READ_SIZE)
        if self.listen.port == 0:
            self.listen = Endpoint(self.listen.host, self._server.sockets[0].getsockname()[1])
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        """Stop listening (new connections are refused) and cut every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            log.info("proxy %s stopped listening on %s", self.name, self.listen)
        tasks = []
        for link, task in list(self._links.items()):
            link.abort()
            task.cancel()  # a pump may be sleeping inside a latency or bandwidth effect
            tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- faults -----------------------------------------------------------------------------------

    @property
    def faults(self) -> list[Fault]:
        return [active.fault for active in self._faults.values()]

    def applied(self, name: str) -> int:
        """How many connections the fault `name` has hit so far."""
        return self._faults[name].applied

    def add(self, fault: Fault) -> None:
        """Add a fault; it also gets its toxicity draw on every connection already open."""
        if type(fault) not in FAULT_KINDS.values():  # only the kinds effects.py knows how to apply
            raise TypeError(f"expected one of the fault kinds ({', '.join(FAULT_KINDS)}), got {fault!r}")
        if fault.name in self._faults:
            raise NameTaken(f"name: fault {fault.name!r} already exists on proxy {self.name!r}")
        active = self._faults[fault.name] = _ActiveFault(fault)
        for link in list(self._links):
            if not link.closed:
                self._hit(link, active)
        log.info("proxy %s: added %s", self.name, fault_to_dict(fault))

    def remove(self, name: str) -> Fault:
        """Remove the fault `name` (KeyError if there is none) from the proxy and every connection."""
        active = self._faults.pop(name)
        for link in self._links:
            effect = link.effects.pop(active, None)
            if effect is not None:
                effect.cancel()
        log.info("proxy %s: removed %s", self.name, name)
        return active.fault

    def clear(self) -> None:
        for name in list(self._faults):
            self.remove(name)

    def _hit(self, link: Link, active: _ActiveFault) -> None:
        if self._rng.random() >= active.fault.toxicity:
            return  # this connection is spared
        effect = link.effects[active] = make_effect(active.fault, link, self._rng)
        active.applied += 1
        self.stats.faults_applied += 1
        effect.start()

    # -- forwarding -------------------------------------------------------------------------------

    def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        # A plain callback, so the task is ours: stop() may cancel it without asyncio logging that
        # as an error in the connection callback.
        link = Link(client_reader, client_writer)
        self._links[link] = asyncio.create_task(self._serve(link))

    async def _serve(self, link: Link) -> None:
        self.stats.accepted += 1
        self.stats.active += 1
        try:
            for active in list(self._faults.values()):
                if link.closed:
                    break  # a reset-on-accept got there first
                self._hit(link, active)
            if not link.closed:
                await self._connect_and_pump(link)
        except Exception:  # a bug must cost one connection and be seen, not take the proxy down
            log.exception("proxy %s: connection failed", self.name)
        finally:
            for effect in link.effects.values():
                effect.cancel()
            link.close()
            try:
                await link.wait_closed()
            finally:  # even when stop() cancels us mid-flush
                del self._links[link]
                self.stats.active -= 1

    async def _connect_and_pump(self, link: Link) -> None:
        try:
            reader, writer = await asyncio.open_connection(self.upstream.host, self.upstream.port,
                                                           limit=READ_SIZE)
        except OSError as exc:
            # We already accepted, so the client cannot be refused any more: it sees a close instead.
            log.info("proxy %s: upstream %s unreachable: %s", self.name, self.upstream, exc)
            return
        link.backend_reader, link.backend_writer = reader, writer
        if link.closed:  # a timed fault fired while we were dialling; close() did not see this socket
            link.abort()
            return
        async with asyncio.TaskGroup() as pumps:
            pumps.create_task(self._pump(link, Direction.UPSTREAM, link.client_reader, writer))
            pumps.create_task(self._pump(link, Direction.DOWNSTREAM, reader, link.client_writer))

    async def _pump(self, link: Link, direction: Direction,
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def sink(data: bytes) -> None:
            if link.closed:
                return
            writer.write(data)
            await writer.drain()
            self.stats.count(direction, len(data))

        try:
            while data := await reader.read(READ_SIZE):
                if link.effects:
                    await run_chain(link.chain(direction), data, direction, sink)
                else:
                    await sink(data)
            if link.closed:
                return  # the EOF is our own doing, nothing to pass on
            for effect in link.chain(direction):
                await effect.on_eof(direction)
            if not link.closed:
                writer.write_eof()  # half-close, as TCP allows: the other direction may still flow
        except OSError:
            link.abort()  # one side vanished abruptly, so the other does too
