"""The client over a memory pair on the virtual clock: the window regressions on the wire."""

from __future__ import annotations

import asyncio

from mesiji.smpp.client import ClientSettings, SmppClient
from mesiji.smpp.codec import PduDecoder, encode
from mesiji.smpp.connection import LinkSettings
from mesiji.smpp.pdus import (
    BindTransceiver,
    BindTransceiverResp,
    EnquireLink,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from mesiji.testing import MemoryTransport, VirtualClock, memory_connector


class ScriptedSmsc(asyncio.Protocol):
    """The SMSC end of the pair: records what arrives, answers only what the test writes."""

    def __init__(self, *, auto: bool = False) -> None:
        #: Answer every submit_sm at once with ESME_ROK (else only what the test writes).
        self.auto = auto
        self.transport: MemoryTransport | None = None
        self.decoder = PduDecoder()
        self.received: list[Pdu] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, MemoryTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.decoder.feed(data)
        while (pdu := self.decoder.next_pdu()) is not None:
            self.received.append(pdu)
            if self.auto and isinstance(pdu, SubmitSm | BindTransceiver | Unbind):
                self.answer(
                    pdu.response(message_id="X")
                    if isinstance(pdu, SubmitSm)
                    else (
                        pdu.response(system_id="smsc")
                        if isinstance(pdu, BindTransceiver)
                        else pdu.response()
                    )
                )

    def answer(self, pdu: Pdu) -> None:
        assert self.transport is not None
        self.transport.write(encode(pdu))

    @property
    def wire(self) -> list[tuple[str, int]]:
        return [(pdu.command_id.name, pdu.sequence_number) for pdu in self.received]


def settings(window: int, tps: float | None = None) -> ClientSettings:
    return ClientSettings(
        tps=tps,
        host="memory",
        port=0,
        system_id="t",
        password="p",
        link=LinkSettings(window=window, response_timeout=60.0, enquire_link_interval=10.0),
    )


def a_submit() -> SubmitSm:
    return SubmitSm(destination_addr="995599123456", short_message=b"hi")


async def test_window_1_with_a_keepalive_in_flight_takes_the_next_submit() -> None:
    # The reported bug: window=1, a submit in flight, an enquire_link sent, and the next
    # submit raised LocalProtocolError. Here every step is asserted on the wire.
    clock = VirtualClock()
    smsc = ScriptedSmsc()
    client = SmppClient(settings(1), clock=clock, connector=memory_connector(lambda: smsc))
    client.start()
    await clock.advance(0)
    assert smsc.wire == [("bind_transceiver", 1)]
    smsc.answer(BindTransceiverResp(sequence_number=1, system_id="smsc"))
    await clock.advance(0)
    assert client.bound

    first = asyncio.ensure_future(client.submit(a_submit()))
    await clock.advance(10.0)  # silence: a keepalive goes out although the window is full
    assert smsc.wire[1:] == [("submit_sm", 2), ("enquire_link", 3)]

    smsc.answer(SubmitSmResp(sequence_number=2, message_id="A"))
    second = asyncio.ensure_future(client.submit(a_submit()))
    await clock.advance(0)
    assert (await first).message_id == "A"  # type: ignore[attr-defined]
    # enquire_link #3 is still unanswered, and the next submit went out all the same.
    assert smsc.wire[3:] == [("submit_sm", 4)]

    third = asyncio.ensure_future(client.submit(a_submit()))
    await clock.advance(0)
    assert smsc.wire[4:] == []  # the window of 1 holds the third submit back
    assert not third.done()

    smsc.answer(EnquireLink(sequence_number=3).response())
    smsc.answer(SubmitSmResp(sequence_number=4, message_id="B"))
    await clock.advance(0)
    assert (await second).message_id == "B"  # type: ignore[attr-defined]
    assert smsc.wire[4:] == [("submit_sm", 5)]
    smsc.answer(SubmitSmResp(sequence_number=5, message_id="C"))
    await clock.advance(0)
    assert (await third).message_id == "C"  # type: ignore[attr-defined]

    closing = asyncio.ensure_future(client.close())
    await clock.advance(0)
    assert smsc.wire[5:] == [("unbind", 6)]
    smsc.answer(Unbind(sequence_number=6).response())
    await clock.advance(0)
    await closing


async def test_window_2_full_and_unbind_with_requests_in_flight() -> None:
    clock = VirtualClock()
    smsc = ScriptedSmsc()
    client = SmppClient(settings(2), clock=clock, connector=memory_connector(lambda: smsc))
    client.start()
    await clock.advance(0)
    smsc.answer(BindTransceiverResp(sequence_number=1, system_id="smsc"))
    await clock.advance(0)
    submits = [asyncio.ensure_future(client.submit(a_submit())) for _ in range(3)]
    await clock.advance(0)
    assert smsc.wire[1:] == [("submit_sm", 2), ("submit_sm", 3)]  # the third waits
    conn = client._links[0].conn
    assert conn is not None
    unbinding = asyncio.ensure_future(conn.unbind())
    await clock.advance(0)
    assert smsc.wire[3:] == [("unbind", 4)]  # unbind is never held by the window
    smsc.answer(SubmitSmResp(sequence_number=2, message_id="A"))
    smsc.answer(Unbind(sequence_number=4).response())
    await clock.advance(0)
    await unbinding
    assert (await submits[0]).message_id == "A"  # type: ignore[attr-defined]
    assert submits[1].done()
    assert type(submits[1].exception()).__name__ == "ConnectionClosedError"
    for task in submits[2:]:
        task.cancel()
    await client.close()


async def test_window_4_caps_requests_in_flight_on_the_wire() -> None:
    clock = VirtualClock()
    smsc = ScriptedSmsc()
    client = SmppClient(settings(4), clock=clock, connector=memory_connector(lambda: smsc))
    client.start()
    await clock.advance(0)
    smsc.answer(BindTransceiverResp(sequence_number=1, system_id="smsc"))
    await clock.advance(0)
    tasks = [asyncio.ensure_future(client.submit(a_submit())) for _ in range(10)]
    await clock.advance(0)
    # Every byte the client wrote is on the pair: exactly four submits, no fifth.
    assert smsc.wire[1:] == [("submit_sm", n) for n in range(2, 6)]
    smsc.answer(SubmitSmResp(sequence_number=2, message_id="A"))
    await clock.advance(0)
    assert smsc.wire[5:] == [("submit_sm", 6)]
    answered = {2}
    while not all(task.done() for task in tasks):
        for name, sequence in smsc.wire:
            if name == "submit_sm" and sequence not in answered:
                answered.add(sequence)
                smsc.answer(SubmitSmResp(sequence_number=sequence, message_id="B"))
        await clock.advance(0)
    sequences = [seq for name, seq in smsc.wire if name == "submit_sm"]
    assert len(sequences) == len(set(sequences)) == 10
    closing = asyncio.ensure_future(client.close())
    await clock.advance(0)
    smsc.answer(Unbind(sequence_number=smsc.wire[-1][1]).response())
    await clock.advance(0)
    await closing


async def test_tps_cap_spaces_submits_by_the_clock() -> None:
    clock = VirtualClock()
    smsc = ScriptedSmsc(auto=True)
    client = SmppClient(
        settings(10, tps=10.0), clock=clock, connector=memory_connector(lambda: smsc)
    )
    async with client:
        await clock.advance(0)
        tasks = [asyncio.ensure_future(client.submit(a_submit())) for _ in range(11)]
        await clock.advance(0)
        assert sum(task.done() for task in tasks) == 1  # the burst of 1
        assert [n for n, _ in smsc.wire].count("submit_sm") == 1
        await clock.advance(0.5)
        assert sum(task.done() for task in tasks) == 6
        await clock.advance(0.5)
        assert all(task.done() for task in tasks)
