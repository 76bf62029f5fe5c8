"""A connected pair of in-memory transports, like trio's memory streams: SMPP without sockets.

::

    client_transport, server_transport = connect_pair(client_conn, server_conn)

Each side is an :class:`asyncio.Protocol` (e.g. :class:`~mesiji.smpp.connection.SmppConnection`);
what one writes reaches the other's ``data_received`` on the next loop pass, and closing either
end gives both ``connection_lost``. Every byte written is kept in :attr:`MemoryTransport.sent`,
so a test asserts the wire itself. With :class:`~mesiji.testing.VirtualClock` nothing waits real
time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

P = TypeVar("P", bound=asyncio.Protocol)


class MemoryTransport:
    """One end of a pair; implements :class:`mesiji.smpp.transport.Transport`."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        self.protocol = protocol
        self.peer: MemoryTransport | None = None
        #: Every byte this end wrote, in order.
        self.sent = bytearray()
        self._closing = False
        # Bytes that arrived while reading is paused, handed over on resume_reading().
        self._paused: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._closing or self.peer is None:
            return
        self.sent += data
        asyncio.get_running_loop().call_soon(self.peer._deliver, bytes(data))

    def close(self) -> None:
        if self._closing:
            return
        loop = asyncio.get_running_loop()
        for end in (self, self.peer):
            if end is not None and not end._closing:
                end._closing = True
            if end is not None:
                # After the bytes already queued, as a socket delivers them before the FIN.
                loop.call_soon(end.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        """Hold what the peer writes, as a peer that stopped reading its socket."""
        if self._paused is None:
            self._paused = []

    def resume_reading(self) -> None:
        """Hand the held bytes to the protocol and read again."""
        held, self._paused = self._paused or [], None
        for data in held:
            self.protocol.data_received(data)

    def _deliver(self, data: bytes) -> None:
        if self._paused is not None:
            self._paused.append(data)
        else:
            self.protocol.data_received(data)


def connect_pair(
    a: asyncio.Protocol, b: asyncio.Protocol
) -> tuple[MemoryTransport, MemoryTransport]:
    """Connect two protocols back to back; returns (a's transport, b's transport)."""
    end_a, end_b = MemoryTransport(a), MemoryTransport(b)
    end_a.peer, end_b.peer = end_b, end_a
    a.connection_made(end_a)  # type: ignore[arg-type]  # the Transport seam, not asyncio's
    b.connection_made(end_b)  # type: ignore[arg-type]
    return end_a, end_b


def memory_connector(
    accept: Callable[[], asyncio.Protocol],
) -> Callable[[Callable[[], P]], Awaitable[P]]:
    """A connector for :class:`~mesiji.smpp.client.SmppClient` that reaches ``accept()``'s
    protocol (e.g. ``simulator.new_connection``) over a memory pair instead of TCP."""

    async def connect(factory: Callable[[], P]) -> P:
        protocol = factory()
        connect_pair(protocol, accept())
        return protocol

    return connect


__all__ = ["MemoryTransport", "connect_pair", "memory_connector"]
