"""An SMSC whose answers to submit_sm a test decides: refusals, held responses."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from mesiji.smpp.connection import HandlerResult, LinkSettings, SmppConnection
from mesiji.smpp.pdus import Bind, Pdu, Request, SubmitSm
from mesiji.smpp.session import Role

#: Given a submit_sm, its answer: a response now, or an awaitable of one.
Answer = Callable[[SubmitSm], HandlerResult]


class ScriptedSmsc:
    """Binds anyone; answers every submit_sm with ``answer`` (by default OK, a fresh id)."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or self.accept
        self.submits: list[SubmitSm] = []
        self.held: list[tuple[SubmitSm, asyncio.Future[None]]] = []
        self._ids = itertools.count(1)
        self._connections: list[SmppConnection] = []
        self._server: asyncio.Server | None = None

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

    async def start(self) -> int:
        def connection() -> SmppConnection:
            conn = SmppConnection(Role.smsc, self._handle, settings=LinkSettings(window=100))
            self._connections.append(conn)
            return conn

        self._server = await asyncio.get_running_loop().create_server(connection, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        self.release()
        for conn in self._connections:
            conn.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
