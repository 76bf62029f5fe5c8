"""An SMSC whose answers to submit_sm a test decides: refusals, held responses; and that
sends whatever deliver_sm a test gives it, recording the bytes it hears back."""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Callable

from mesiji.smpp.connection import HandlerResult, LinkSettings, RequestHandler, SmppConnection
from mesiji.smpp.constants import CommandId
from mesiji.smpp.pdus import Bind, DeliverSm, Pdu, Request, SubmitSm
from mesiji.smpp.session import Role
from mesiji.testing import memory_connector

#: Given a submit_sm, its answer: a response now, or an awaitable of one.
Answer = Callable[[SubmitSm], HandlerResult]


_HEADER = struct.Struct(">IIII")


class _RecordingConnection(SmppConnection):
    """A connection that keeps every byte it receives, as it came off the transport."""

    def __init__(self, role: Role, handler: RequestHandler, settings: LinkSettings) -> None:
        super().__init__(role, handler, settings=settings)
        self.received = bytearray()

    def data_received(self, data: bytes) -> None:
        self.received += data
        super().data_received(data)


class ScriptedSmsc:
    """Binds anyone; answers every submit_sm with ``answer`` (by default OK, a fresh id)."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or self.accept
        self.submits: list[SubmitSm] = []
        self.held: list[tuple[SubmitSm, asyncio.Future[None]]] = []
        self._ids = itertools.count(1)
        self._connections: list[_RecordingConnection] = []
        #: Reaches this SMSC over a memory pair (:class:`~mesiji.smpp.client.SmppClient`'s
        #: ``connector``).
        self.connector = memory_connector(self._connection)

    async def deliver(self, pdu: DeliverSm) -> Pdu:
        """Send ``pdu`` (a receipt, say) on the first bound link; the ESME's response."""
        bound = [conn for conn in self._connections if conn.session.bound and not conn.is_closed]
        return await bound[0].request(pdu)

    def responses_on_the_wire(self, command_id: CommandId) -> list[tuple[int, bytes]]:
        """(sequence_number, the 4 command_status octets) of each ``command_id`` PDU received,
        read from the raw bytes (SMPP 3.4 §3.2 header), not through the codec."""
        found: list[tuple[int, bytes]] = []
        for conn in self._connections:
            data = bytes(conn.received)
            pos = 0
            while pos + _HEADER.size <= len(data):
                length, command, _, sequence = _HEADER.unpack_from(data, pos)
                if command == command_id:
                    found.append((sequence, data[pos + 8 : pos + 12]))
                pos += max(length, _HEADER.size)
        return found

    def accept(self, pdu: SubmitSm) -> HandlerResult:
        return pdu.response(message_id=f"{next(self._ids):08X}")

    def hold(self, pdu: SubmitSm) -> HandlerResult:
        """Answer OK only once the test calls :meth:`release`."""
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append((pdu, gate))

        async def later() -> Pdu:
            await gate
            return pdu.response(message_id=f"{next(self._ids):08X}")

        return later()

    def release(self) -> None:
        for _, gate in self.held:
            if not gate.done():
                gate.set_result(None)

    def _handle(self, request: Request) -> HandlerResult:
        if isinstance(request, Bind):
            return request.response(system_id="SCRIPTED")
        if isinstance(request, SubmitSm):
            self.submits.append(request)
            return self.answer(request)
        return None

    def _connection(self) -> SmppConnection:
        conn = _RecordingConnection(Role.smsc, self._handle, LinkSettings(window=100))
        self._connections.append(conn)
        return conn

    def close(self) -> None:
        self.release()
        for conn in self._connections:
            conn.close()
