"""A hostile SMSC, on SQLite and PostgreSQL: receipts laden with NULs, with an empty
message_state or a 2-octet network_error_code, ids reused or missing, mixed with genuine ones.

Every genuine receipt must be matched, no deliver_sm answered with an error (read from the
bytes on the wire), and every part must end in a final status. The gateway side is the real
one (channel, dispatcher, receipt handler, SQL store); the SMSC is scripted.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from mesiji.domain.statuses import PartStatus, is_final
from mesiji.services.channels import Channel, client_settings
from mesiji.services.dispatch import NO_MESSAGE_ID, Dispatcher
from mesiji.services.receipt_wait import ReceiptWait
from mesiji.services.receipts import ReceiptHandler
from mesiji.settings import ChannelSettings, DispatchSettings
from mesiji.smpp import tlv
from mesiji.smpp.connection import HandlerResult
from mesiji.smpp.constants import CommandId, EsmClass, MessageState
from mesiji.smpp.pdus import DeliverSm, Pdu, SubmitSm
from mesiji.smpp.tlv import Tlv
from mesiji.storage import SqlStore
from mesiji.storage.message_ports import AcceptBatch
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.receipts_sql import NO_RECEIPT, REUSED_ID
from mesiji.storage.schema import parts
from mesiji.testing import VirtualClock
from tests.services.scripted_smsc import ScriptedSmsc
from tests.storage.message_fixtures import CHANNEL, funded_account, message

SAFETY = 20.0
WAIT = timedelta(hours=48)

#: The message_id the SMSC gives each destination: two share one, one gets none.
IDS = {
    "995599000001": "A1",
    "995599000002": "A2",
    "995599000003": "A3",
    "995599000004": "A4",
    "995599000005": "A5",
    "995599000006": "E1",  # its submit_sm_resp is held until its receipt has come
    "995599000007": "DUP",
    "995599000008": "DUP",
    "995599000009": "",
    "995599000010": "A10",  # no receipt ever comes
}
EARLY = "995599000006"

_EMPTY_STATE = Tlv(tlv.message_state.tag, b"", malformed=True)


def receipt(text: bytes, *tlvs: Tlv) -> DeliverSm:
    return DeliverSm(
        source_addr="995599000001",
        destination_addr="Mesiji",
        esm_class=int(EsmClass.smsc_delivery_receipt),
        short_message=text,
        tlvs=tlvs,
    )


def appendix_b(message_id: str, stat: str, err: str = "000") -> bytes:
    return (
        f"id:{message_id} sub:001 dlvrd:000 submit date:2601011200 done date:2601011201"
        f" stat:{stat} err:{err} text:gamarjoba"
    ).encode()


#: destination -> (the part status its receipt says, its error code)
GENUINE = {
    "995599000001": (PartStatus.DELIVERED, None),
    "995599000002": (PartStatus.DELIVERED, None),
    "995599000003": (PartStatus.UNDELIVERED, "034"),
    "995599000004": (PartStatus.UNDELIVERED, "0022"),
    "995599000005": (PartStatus.EXPIRED, "000"),
    "995599000006": (PartStatus.REJECTED, "00B"),
}
GENUINE_RECEIPTS = [
    # Well-formed, text and TLVs agreeing.
    receipt(
        appendix_b("A1", "DELIVRD"),
        Tlv.of(tlv.receipted_message_id, "A1"),
        Tlv.of(tlv.message_state, int(MessageState.DELIVERED)),
    ),
    # NULs everywhere: C-string terminators between the fields and after the text.
    receipt(
        b"\x00id:A2\x00sub:001\x00dlvrd:001\x00submit date:2601011200\x00"
        b"done date:2601011201\x00stat:DELIVRD\x00err:000\x00text:\x00\x00\x00"
    ),
    # An empty message_state (§5.3.2.35 says 1 octet): the text's stat: decides.
    receipt(appendix_b("A3", "UNDELIV", "034"), _EMPTY_STATE),
    # A 2-octet network_error_code (§5.3.2.31 says 3) and no err: in the text.
    receipt(
        b"id:A4 sub:001 dlvrd:000 stat:UNDELIV",
        Tlv(tlv.network_error_code.tag, b"\x00\x22", malformed=True),
        Tlv.of(tlv.message_state, int(MessageState.UNDELIVERABLE)),
    ),
    # receipted_message_id padded with NULs, a text id that says something else.
    receipt(
        appendix_b("ZZZ", "EXPIRED"),
        Tlv(tlv.receipted_message_id.tag, b"A5\x00\x00\x00", malformed=True),
    ),
]
#: Beats the submit_sm_resp of its part, and waits for it: NULs, an empty message_state.
EARLY_RECEIPT = receipt(b"id:E1 stat:REJECTD err:00B\x00\x00", _EMPTY_STATE)
NOISE = [
    receipt(b"stat:DELIVRD err:000\x00"),  # no id anywhere: acknowledged, nothing to match
    receipt(b"id:NOPE\x00 stat:DELIVRD\x00"),  # an id nobody sent: kept waiting
    receipt(appendix_b("A3", "ENROUTE"), _EMPTY_STATE),  # intermediate
    GENUINE_RECEIPTS[0],  # a repeat
    receipt(appendix_b("DUP", "DELIVRD")),  # the reused id: goes to the newer part
]


async def until(clock: VirtualClock, condition: Callable[[], bool]) -> None:
    """Let the database thread and the memory pair run, and the virtual clock wake what is due
    now, until ``condition()``."""
    async with asyncio.timeout(SAFETY):
        while not condition():
            await clock.advance(0)  # record_delay=0: results are written without time passing
            await asyncio.sleep(0.001)


class HostileSmsc(ScriptedSmsc):
    """Gives each destination its id from :data:`IDS`; holds the early one's answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = self.by_destination
        self.gate: asyncio.Future[None] | None = None

    def by_destination(self, pdu: SubmitSm) -> HandlerResult:
        message_id = IDS[pdu.destination_addr]
        if pdu.destination_addr != EARLY:
            return pdu.response(message_id=message_id)
        self.gate = asyncio.get_running_loop().create_future()
        gate = self.gate

        async def later() -> Pdu:
            await gate
            return pdu.response(message_id=message_id)

        return later()

    def release(self) -> None:
        if self.gate is not None and not self.gate.done():
            self.gate.set_result(None)
        super().release()


async def test_every_genuine_receipt_is_matched_and_none_is_refused(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    accepted = await message_store.accept(
        AcceptBatch(account, [message(destination=d) for d in IDS]), clock.now()
    )
    message_of = dict(zip(IDS, accepted.message_ids, strict=True))

    smsc = HostileSmsc()
    settings = ChannelSettings(name=CHANNEL, port=0, window=10)
    receipts = ReceiptHandler(message_store, clock=clock)
    channel = Channel(
        settings,
        receipts=receipts,
        clock=clock,
        client=dataclasses.replace(client_settings(settings), reconnect_initial=0.1),
        connector=smsc.connector,
    )
    dispatcher = Dispatcher(
        message_store,
        channel,
        DispatchSettings(batch_size=20),
        clock=clock,
        owner="gw",
        record_delay=0.0,
    )
    channel.start()
    try:
        await asyncio.wait_for(channel.wait_bound(), SAFETY)
        dispatcher.start()
        await until(clock, lambda: dispatcher.stats.recorded == len(IDS) - 1)
        assert smsc.gate is not None
        assert not smsc.gate.done()  # the early part's submit_sm_resp is held

        sent = [EARLY_RECEIPT]
        answers = [await asyncio.wait_for(smsc.deliver(EARLY_RECEIPT), SAFETY)]
        smsc.release()
        await until(clock, lambda: dispatcher.stats.recorded == len(IDS))

        # The rest at once, so that they share group commits with the noise.
        mixed = [*GENUINE_RECEIPTS, *NOISE]
        sent += mixed
        answers += await asyncio.wait_for(
            asyncio.gather(*(smsc.deliver(pdu) for pdu in mixed)), SAFETY
        )
    finally:
        smsc.release()
        await dispatcher.stop()
        await channel.close()
        await receipts.close()
        smsc.close()

    assert [answer.command_status for answer in answers] == [0] * len(sent)
    wire = smsc.responses_on_the_wire(CommandId.deliver_sm_resp)
    assert len(wire) == len(sent)
    assert {status for _, status in wire} == {b"\x00\x00\x00\x00"}  # ESME_ROK, every one

    async def part_of(destination: str) -> tuple[PartStatus, str | None]:
        query = select(parts.c.status, parts.c.error_code).where(
            parts.c.message_id == message_of[destination]
        )
        async with store.engine.connect() as conn:
            status, error_code = (await conn.execute(query)).one()
        return PartStatus(status), error_code

    for destination, expected in GENUINE.items():
        assert await part_of(destination) == expected, destination
    reused = sorted([await part_of("995599000007"), await part_of("995599000008")])
    assert reused == [(PartStatus.DELIVERED, None), (PartStatus.UNKNOWN, REUSED_ID)]
    assert await part_of("995599000009") == (PartStatus.UNKNOWN, NO_MESSAGE_ID)
    assert await part_of("995599000010") == (PartStatus.IN_TRANSIT, None)

    # Two days later the part whose receipt never came is given up, and every part is final.
    later = VirtualClock(clock.now() + WAIT + timedelta(seconds=1))
    sweeper = ReceiptWait(message_store, wait=WAIT.total_seconds(), clock=later)
    assert await sweeper.sweep() == 1
    assert await part_of("995599000010") == (PartStatus.UNKNOWN, NO_RECEIPT)
    for destination in IDS:
        status, _ = await part_of(destination)
        assert is_final(status), destination
