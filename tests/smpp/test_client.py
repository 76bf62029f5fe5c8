"""The asyncio ESME client against the simulator and a scripted SMSC, over memory pairs.

No socket is opened and no test waits real time: the VirtualClock moves the response
timeouts, keepalives, receipt delays and reconnect backoffs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mesiji.errors import BindError, CommandStatusError, PduError, ResponseTimeoutError
from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.smpp import tlv
from mesiji.smpp.client import BindKind, ClientSettings, SmppClient
from mesiji.smpp.connection import LinkSettings, SmppConnection
from mesiji.smpp.constants import CommandStatus
from mesiji.smpp.pdus import (
    Bind,
    DataSm,
    DeliverSm,
    GenericNack,
    Pdu,
    Request,
    SubmitSm,
    SubmitSmResp,
)
from mesiji.smpp.session import Role
from mesiji.testing import MemoryTransport, VirtualClock, memory_connector

Handler = Callable[[Request], object]


def client_settings(**overrides: object) -> ClientSettings:
    values: dict[str, object] = {
        "host": "memory",
        "port": 0,
        "system_id": "tester",
        "password": "secret",
        "link": LinkSettings(window=10, response_timeout=5.0, enquire_link_interval=30.0),
        "reconnect_initial": 0.5,
        "reconnect_max": 2.0,
    }
    values.update(overrides)
    return ClientSettings(**values)  # type: ignore[arg-type]


def a_submit(text: bytes = b"hello", receipt: int = 1) -> SubmitSm:
    return SubmitSm(
        source_addr="Mesiji",
        source_addr_ton=5,
        destination_addr="995599123456",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=receipt,
        short_message=text,
    )


class Receipts:
    """Collects what the client hands to on_deliver."""

    def __init__(self) -> None:
        self.pdus: list[DeliverSm | DataSm] = []
        self.log: list[tuple[str, str]] = []

    async def __call__(self, pdu: DeliverSm | DataSm) -> None:
        self.pdus.append(pdu)
        self.log.append(("receipt", pdu.tlv(tlv.receipted_message_id) or ""))

    @property
    def ids(self) -> list[str]:
        return [pdu.tlv(tlv.receipted_message_id) or "" for pdu in self.pdus]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


async def start_simulator(clock: VirtualClock, **settings: object) -> SmscSimulator:
    values: dict[str, object] = {"receipt_delay": 1.0}
    values.update(settings)
    simulator = SmscSimulator(SimulatorSettings(**values), clock=clock)  # type: ignore[arg-type]
    await simulator.start(listen=False)
    return simulator


def client_of(
    simulator: SmscSimulator,
    clock: VirtualClock,
    settings: ClientSettings | None = None,
    on_deliver: Callable[[DeliverSm | DataSm], Awaitable[None]] | None = None,
) -> SmppClient:
    """A client that reaches ``simulator`` over a memory pair."""
    return SmppClient(
        settings or client_settings(),
        on_deliver=on_deliver,
        clock=clock,
        connector=memory_connector(simulator.new_connection),
    )


@pytest.fixture
async def simulator(clock: VirtualClock) -> AsyncIterator[SmscSimulator]:
    sim = await start_simulator(clock)
    yield sim
    await sim.close()


async def test_transceiver_binds_submits_and_receives_the_receipt(
    simulator: SmscSimulator, clock: VirtualClock
) -> None:
    receipts = Receipts()
    async with client_of(simulator, clock, on_deliver=receipts) as c:
        await asyncio.wait_for(c.wait_bound(), 5)
        response = await c.submit(a_submit())
        assert isinstance(response, SubmitSmResp)
        assert response.command_status == CommandStatus.ESME_ROK
        assert int(response.message_id, 16) >= 0
        await clock.advance(0.99)
        assert receipts.pdus == []  # the receipt waits for the simulator's delay
        await clock.advance(0.01)
        assert len(receipts.pdus) == 1
        receipt = receipts.pdus[0]
        assert isinstance(receipt, DeliverSm)
        assert receipt.esm_class == 0x04
        assert receipt.tlv(tlv.receipted_message_id) == response.message_id
        assert receipt.tlv(tlv.message_state) == 2
        assert receipt.short_message.startswith(f"id:{response.message_id} ".encode())
        assert b"stat:DELIVRD" in receipt.short_message
    await clock.advance(0)
    assert simulator.stats.binds_active == 0
    assert simulator.stats.receipts_acked == 1


async def test_transmitter_receiver_pair_splits_submits_and_receipts(
    simulator: SmscSimulator, clock: VirtualClock
) -> None:
    receipts = Receipts()
    settings = client_settings(bind=BindKind.pair)
    async with client_of(simulator, clock, settings, on_deliver=receipts) as client:
        await asyncio.wait_for(client.wait_bound(), 5)
        assert simulator.stats.binds_active == 2
        ids = [(await client.submit(a_submit())).message_id for _ in range(3)]  # type: ignore[attr-defined]
        await clock.advance(1.0)
        assert sorted(receipts.ids) == sorted(ids)


async def test_throttled_submits_are_retried_not_failed(clock: VirtualClock) -> None:
    simulator = await start_simulator(clock, throttle_every=3)
    try:
        async with client_of(simulator, clock) as client:
            await asyncio.wait_for(client.wait_bound(), 5)
            tasks = [asyncio.create_task(client.submit(a_submit(receipt=0))) for _ in range(10)]
            while not all(task.done() for task in tasks):
                await clock.advance(0.5)  # lets the throttle backoff pass
            responses = [task.result() for task in tasks]
            assert all(r.command_status == CommandStatus.ESME_ROK for r in responses)
            assert len({r.message_id for r in responses}) == 10  # type: ignore[attr-defined]
            assert client.stats.throttled >= 3
            assert simulator.stats.throttled == client.stats.throttled
            assert simulator.stats.submit_sm == 10 + client.stats.throttled
    finally:
        await simulator.close()


async def test_reconnects_after_the_link_drops(clock: VirtualClock) -> None:
    simulator = await start_simulator(clock, drop_after=3)
    try:
        async with client_of(simulator, clock) as client:
            await asyncio.wait_for(client.wait_bound(), 5)
            for _ in range(3):
                await client.submit(a_submit(receipt=0))
            await clock.advance(0)
            assert not client.bound  # the simulator dropped the link
            waiting = asyncio.create_task(client.submit(a_submit(receipt=0)))
            # The first backoff is drawn from [reconnect_initial / 2, reconnect_initial].
            await clock.advance(0.24)
            assert not client.bound
            await clock.advance(0.26)
            assert client.bound
            response = await waiting
            assert response.command_status == CommandStatus.ESME_ROK
            assert client.stats.links_lost == 1
            assert client.stats.binds == 2
            assert simulator.stats.binds_total == 2
    finally:
        await simulator.close()


async def test_receipt_that_beats_its_submit_sm_resp_is_delivered(clock: VirtualClock) -> None:
    simulator = await start_simulator(clock, receipt_before_response=True)
    receipts = Receipts()
    try:
        async with client_of(simulator, clock, on_deliver=receipts) as client:
            await asyncio.wait_for(client.wait_bound(), 5)
            response = await client.submit(a_submit())
            receipts.log.append(("response", response.message_id))  # type: ignore[attr-defined]
            assert receipts.log == [
                ("receipt", response.message_id),  # type: ignore[attr-defined]
                ("response", response.message_id),  # type: ignore[attr-defined]
            ]
    finally:
        await simulator.close()


async def test_deliver_sm_is_acknowledged_only_after_the_handler_returned(
    simulator: SmscSimulator, clock: VirtualClock
) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow_store(pdu: DeliverSm | DataSm) -> None:
        entered.set()
        await release.wait()

    async with client_of(simulator, clock, on_deliver=slow_store) as client:
        await asyncio.wait_for(client.wait_bound(), 5)
        await client.submit(a_submit())
        await clock.advance(1.0)
        assert entered.is_set()
        # Over the memory pair every byte written has arrived once the loop settles: a
        # premature deliver_sm_resp would be counted now.
        await clock.advance(0)
        assert simulator.stats.receipts_acked == 0
        release.set()
        await clock.advance(0)
        assert simulator.stats.receipts_acked == 1


async def test_failing_handler_makes_the_smsc_deliver_again(clock: VirtualClock) -> None:
    simulator = await start_simulator(clock, redelivery_delay=30)
    calls: list[str] = []

    async def flaky(pdu: DeliverSm | DataSm) -> None:
        calls.append(pdu.tlv(tlv.receipted_message_id) or "")
        if len(calls) == 1:
            raise RuntimeError("database unavailable")

    try:
        async with client_of(simulator, clock, on_deliver=flaky) as c:
            await asyncio.wait_for(c.wait_bound(), 5)
            response = await c.submit(a_submit())
            await clock.advance(1.0)
            assert len(calls) == 1
            await clock.advance(29.9)
            assert len(calls) == 1  # the SMSC waits its redelivery delay
            await clock.advance(0.1)
            assert calls == [response.message_id] * 2  # type: ignore[attr-defined]
            assert simulator.stats.receipts_acked == 1
    finally:
        await simulator.close()


async def test_wrong_password_is_reported(clock: VirtualClock) -> None:
    simulator = await start_simulator(clock, credentials={"tester": "right"})
    try:
        client = client_of(simulator, clock)
        client.start()
        await clock.advance(0)
        assert client.stats.bind_failures == 1
        assert isinstance(client.last_error, BindError)
        assert "ESME_RINVPASWD" in str(client.last_error)
        assert not client.bound
        await client.close()
    finally:
        await simulator.close()


async def test_graceful_close_waits_for_outstanding_submits_then_unbinds(
    simulator: SmscSimulator, clock: VirtualClock
) -> None:
    client = client_of(simulator, clock)
    client.start()
    await asyncio.wait_for(client.wait_bound(), 5)
    submits = [asyncio.create_task(client.submit(a_submit(receipt=0))) for _ in range(20)]
    await asyncio.sleep(0)  # the submits are in flight before close() begins
    await client.close()
    assert all(task.result().command_status == 0 for task in submits)
    await clock.advance(0)
    assert simulator.stats.binds_active == 0


# --- a scripted SMSC, for behaviour the simulator is too well-behaved to show -------------


class ScriptedSmsc:
    """An SMSC built on the same link layer, whose answers a test decides; clients reach it
    through :attr:`connector` (a memory pair per connection)."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.connections: list[SmppConnection] = []
        self.requests: list[Request] = []
        self.connector = memory_connector(self._accept)

    def _handle(self, request: Request) -> object:
        self.requests.append(request)
        if isinstance(request, Bind):
            return request.response(system_id="SCRIPTED")
        return self.answer(request)

    def _accept(self) -> SmppConnection:
        conn = SmppConnection(Role.smsc, self._handle, settings=LinkSettings(window=100))  # type: ignore[arg-type]
        self.connections.append(conn)
        return conn

    def stop(self) -> None:
        for conn in self.connections:
            conn.close()


async def test_unanswered_submit_times_out(clock: VirtualClock) -> None:
    smsc = ScriptedSmsc(lambda request: asyncio.get_running_loop().create_future())
    settings = client_settings(link=LinkSettings(response_timeout=5.0))
    try:
        async with SmppClient(settings, clock=clock, connector=smsc.connector) as client:
            await asyncio.wait_for(client.wait_bound(), 5)
            task = asyncio.create_task(client.submit(a_submit()))
            await clock.advance(0)
            assert len(smsc.requests) == 2
            await clock.advance(4.0)
            assert not task.done()
            await clock.advance(2.0)
            with pytest.raises(ResponseTimeoutError):
                await task
    finally:
        smsc.stop()


async def test_generic_nack_fails_the_submit_with_its_status(clock: VirtualClock) -> None:
    def nack(request: Request) -> Pdu:
        return GenericNack(
            sequence_number=request.sequence_number,
            command_status=CommandStatus.ESME_RINVCMDLEN,
        )

    smsc = ScriptedSmsc(nack)
    try:
        async with SmppClient(client_settings(), clock=clock, connector=smsc.connector) as client:
            await asyncio.wait_for(client.wait_bound(), 5)
            with pytest.raises(CommandStatusError) as refused:
                await client.submit(a_submit())
            assert refused.value.command_status == CommandStatus.ESME_RINVCMDLEN
    finally:
        smsc.stop()


async def test_silent_peer_is_detected_by_enquire_link_and_rebound(clock: VirtualClock) -> None:
    smsc = ScriptedSmsc(lambda request: None)
    settings = client_settings(link=LinkSettings(response_timeout=2.0, enquire_link_interval=10.0))
    try:
        async with SmppClient(settings, clock=clock, connector=smsc.connector) as client:
            await asyncio.wait_for(client.wait_bound(), 5)
            transport = smsc.connections[0]._transport
            assert isinstance(transport, MemoryTransport)
            transport.pause_reading()  # the SMSC hangs: it reads and answers nothing
            await clock.advance(10.0)  # silence long enough for an enquire_link
            await clock.advance(1.9)
            assert client.stats.links_lost == 0
            await clock.advance(0.1)  # ... left unanswered for response_timeout
            assert client.stats.links_lost == 1
            assert not client.bound
            await clock.advance(0.5)  # the first reconnect backoff is at most 0.5 s
            assert client.stats.binds == 2
            assert client.bound
    finally:
        smsc.stop()


async def test_a_pdu_that_cannot_be_encoded_fails_at_once_and_frees_its_slot(
    simulator: SmscSimulator, clock: VirtualClock
) -> None:
    settings = client_settings(link=LinkSettings(window=1))
    async with client_of(simulator, clock, settings) as client:
        await asyncio.wait_for(client.wait_bound(), 5)
        with pytest.raises(PduError) as refused:
            await client.submit(SubmitSm(source_addr="x" * 30, destination_addr="995599000001"))
        assert refused.value.command_status == CommandStatus.ESME_RINVSRCADR
        # the window of one is free again: the next submit goes straight through
        response = await asyncio.wait_for(client.submit(a_submit(receipt=0)), 5)
        assert response.command_status == CommandStatus.ESME_ROK
