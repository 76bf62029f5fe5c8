"""Test harness: simulators and bare SmppConnection ESMEs joined by memory pairs.

No socket is opened unless a test asks for a listening simulator (``listen=True``), whose
subject is the socket itself; everything else runs on the VirtualClock and loop passes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.smpp.connection import HandlerResult, SmppConnection
from mesiji.smpp.constants import BindMode
from mesiji.smpp.pdus import (
    BindReceiver,
    BindResp,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    Pdu,
    Request,
    SubmitSm,
    SubmitSmResp,
)
from mesiji.smpp.session import Role
from mesiji.testing import VirtualClock, connect_pair

#: Real seconds any single wait may take before the test fails rather than hangs (a bound on
#: a broken test, never a wait for time to pass).
SAFETY = 5.0

_BINDS = {
    BindMode.transmitter: BindTransmitter,
    BindMode.receiver: BindReceiver,
    BindMode.transceiver: BindTransceiver,
}


class Esme:
    """The ESME end of one connection: records the wire and answers deliver_sm as told."""

    def __init__(self) -> None:
        self.deliveries: list[DeliverSm] = []
        #: Every PDU in ("<") and out (">"), in wire order.
        self.wire: list[tuple[str, Pdu]] = []
        #: command_status for the next deliver_sm answers; None leaves one unanswered.
        self.answers: deque[int | None] = deque()
        self._changed = asyncio.Event()
        self._held: list[asyncio.Future[Pdu | None]] = []
        self.conn: SmppConnection

    def handle(self, request: Request) -> HandlerResult:
        if not isinstance(request, DeliverSm):
            return None
        self.deliveries.append(request)
        self._changed.set()
        status = self.answers.popleft() if self.answers else 0
        if status is None:
            held: asyncio.Future[Pdu | None] = asyncio.get_running_loop().create_future()
            self._held.append(held)
            return held
        return request.response(status)

    def observe(self, direction: str, pdu: Pdu) -> None:
        self.wire.append((direction, pdu))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait (in real time, bounded) until ``predicate()`` holds."""
        async with asyncio.timeout(SAFETY):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_deliveries(self, count: int) -> list[DeliverSm]:
        await self.wait_for(lambda: len(self.deliveries) >= count)
        return self.deliveries

    async def bind(
        self, mode: BindMode = BindMode.transceiver, system_id: str = "esme", password: str = ""
    ) -> Pdu:
        async with asyncio.timeout(SAFETY):
            return await self.conn.request(_BINDS[mode](system_id=system_id, password=password))

    async def submit(self, **fields: Any) -> SubmitSmResp:
        fields.setdefault("source_addr", "MESIJI")
        fields.setdefault("destination_addr", "254700000001")
        fields.setdefault("short_message", b"hello")
        async with asyncio.timeout(SAFETY):
            response = await self.conn.request(SubmitSm(**fields))
        assert isinstance(response, SubmitSmResp)
        return response

    async def wait_closed(self) -> None:
        async with asyncio.timeout(SAFETY):
            await self.conn.closed.wait()

    def release(self) -> None:
        """Answer every held deliver_sm (so no task is left pending)."""
        for held in self._held:
            if not held.done():
                held.set_result(None)


def connect(sim: SmscSimulator) -> Esme:
    """A bare SmppConnection in the ESME role, joined to a new simulator connection."""
    esme = Esme()
    esme.conn = SmppConnection(Role.esme, esme.handle, observer=esme.observe, name="test-esme")
    connect_pair(esme.conn, sim.new_connection())
    return esme


async def connect_tcp(port: int) -> Esme:
    """As :func:`connect`, over a real socket to 127.0.0.1:``port`` (for the seam tests)."""
    esme = Esme()
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(
        lambda: SmppConnection(Role.esme, esme.handle, observer=esme.observe, name="test-esme"),
        "127.0.0.1",
        port,
    )
    esme.conn = conn
    return esme


class Harness:
    """Starts simulators and ESMEs for one test and tears all of them down."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sims: list[SmscSimulator] = []
        self.esmes: list[Esme] = []

    async def simulator(self, *, listen: bool = False, **settings: Any) -> SmscSimulator:
        """A started simulator; with ``listen`` also on an ephemeral TCP port."""
        settings.setdefault("port", 0)
        sim = SmscSimulator(SimulatorSettings(**settings), clock=self.clock)
        await sim.start(listen=listen)
        self.sims.append(sim)
        return sim

    async def esme(
        self,
        sim: SmscSimulator,
        mode: BindMode = BindMode.transceiver,
        system_id: str = "esme",
        password: str = "",
    ) -> Esme:
        """A connected ESME, bound (asserted) unless ``mode`` is None."""
        esme = connect(sim)
        self.esmes.append(esme)
        response = await esme.bind(mode, system_id, password)
        assert isinstance(response, BindResp)
        assert response.command_status == 0
        # The simulator registers a bind once its bind_resp is out; let that run.
        await self.settle()
        return esme

    async def connect(self, sim: SmscSimulator) -> Esme:
        esme = connect(sim)
        self.esmes.append(esme)
        return esme

    async def settle(self) -> None:
        """Let every byte written reach its peer and every task it wakes run; time stands."""
        await self.clock.advance(0)

    async def close(self) -> None:
        for esme in self.esmes:
            esme.release()
        for sim in self.sims:
            async with asyncio.timeout(SAFETY * 2):
                await sim.close()
        for esme in self.esmes:
            esme.conn.close()
            await esme.wait_closed()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def harness(clock: VirtualClock) -> AsyncIterator[Harness]:
    h = Harness(clock)
    yield h
    await h.close()
