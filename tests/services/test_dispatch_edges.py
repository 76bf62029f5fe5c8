"""Dispatch edge cases: the submit_sm it writes, refusals, shutdown, storage trouble."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mesiji.domain.statuses import PartStatus
from mesiji.services.channels import Channel, client_settings
from mesiji.services.dispatch import NO_MESSAGE_ID, Dispatcher
from mesiji.services.receipts import ReceiptHandler
from mesiji.services.submit_builder import SubmitBuilder, UnsendableError, smpp_absolute_time
from mesiji.settings import ChannelSettings, DispatchSettings
from mesiji.smpp import tlv
from mesiji.smpp.constants import CommandStatus
from mesiji.smpp.pdus import SubmitSm
from mesiji.smpp.submit import submit_sms
from mesiji.storage.errors import StorageUnavailable
from mesiji.storage.message_ports import AcceptBatch, PartToSend
from mesiji.testing import VirtualClock
from mesiji.text import Alphabet, ConcatMethod

from .conftest import GEORGIAN, SAFETY, new_message
from .fakes import FakeMessageStore
from .scripted_smsc import ScriptedSmsc

P = PartStatus
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def a_part(seqnum: int = 1, total: int = 1, body: str = "hello", **fields: Any) -> PartToSend:
    values: dict[str, Any] = {
        "part_id": 10 + seqnum,
        "message_id": 7,
        "account_id": 1,
        "seqnum": seqnum,
        "total": total,
        "sender": "Mesiji",
        "destination": "995599123456",
        "body": body,
        "alphabet": "gsm7",
        "concat_reference": 0x1234,
        "valid_until": None,
        "attempts": 1,
    }
    values.update(fields)
    return PartToSend(**values)


# --- the submit_sm ---------------------------------------------------------------------


@pytest.mark.parametrize("concat", list(ConcatMethod))
def test_each_part_is_the_segment_submit_sms_would_send(concat: ConcatMethod) -> None:
    builder = SubmitBuilder(concat, allow_latin1=False)
    reference = 0x1234 & (0xFF if concat is ConcatMethod.udh8 else 0xFFFF)
    expected = submit_sms(
        sender="Mesiji",
        destination="995599123456",
        text=GEORGIAN,
        alphabet=Alphabet.ucs2,
        concat=concat,
        reference=reference,
    )
    built = [
        builder.build(
            a_part(n, len(expected), GEORGIAN, alphabet="ucs2"),
            NOW,
        )
        for n in range(1, len(expected) + 1)
    ]
    assert built == expected


def test_validity_is_an_smpp_absolute_time_in_utc() -> None:
    tbilisi = timezone(timedelta(hours=4))
    valid_until = datetime(2026, 3, 9, 18, 30, 5, 700_000, tzinfo=tbilisi)
    assert smpp_absolute_time(valid_until) == "260309143005000+"
    pdu = SubmitBuilder(ConcatMethod.udh8, allow_latin1=False).build(
        a_part(valid_until=valid_until), NOW
    )
    assert pdu.validity_period == "260309143005000+"
    assert pdu.registered_delivery == 1
    assert (pdu.source_addr_ton, pdu.source_addr) == (5, "Mesiji")
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (1, 1, "995599123456")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"valid_until": NOW}, "VALIDITY_EXPIRED"),
        ({"alphabet": "latin1", "body": "café"}, "LATIN1_NOT_ALLOWED"),
        ({"alphabet": "gsm7", "body": "ქართული"}, "TEXT_NOT_ENCODABLE"),
        ({"alphabet": "klingon"}, "TEXT_NOT_ENCODABLE"),
        ({"seqnum": 2, "total": 2}, "SEGMENTS_MISMATCH"),
        ({"sender": "მესიჯი"}, "ESME_RINVSRCADR"),
        ({"destination": "9" * 21}, "ESME_RINVDSTADR"),
    ],
)
def test_unsendable_parts_say_why(fields: dict[str, Any], code: str) -> None:
    builder = SubmitBuilder(ConcatMethod.udh8, allow_latin1=False)
    with pytest.raises(UnsendableError) as caught:
        builder.build(a_part(**fields), NOW)
    assert caught.value.error_code == code


def test_latin1_goes_out_where_the_channel_allows_it() -> None:
    pdu = SubmitBuilder(ConcatMethod.udh8, allow_latin1=True).build(
        a_part(alphabet="latin1", body="café"), NOW
    )
    assert (pdu.data_coding, pdu.short_message) == (0x03, "café".encode("latin-1"))


def test_sar_parts_carry_the_reference_in_tlvs() -> None:
    builder = SubmitBuilder(ConcatMethod.sar, allow_latin1=False)
    pdu = builder.build(a_part(2, 3, GEORGIAN, alphabet="ucs2"), NOW)
    assert pdu.esm_class == 0
    assert pdu.tlv(tlv.sar_msg_ref_num) == 0x1234
    assert (pdu.tlv(tlv.sar_total_segments), pdu.tlv(tlv.sar_segment_seqnum)) == (3, 2)


# --- against a scripted SMSC -----------------------------------------------------------


@dataclasses.dataclass
class Rig:
    clock: VirtualClock
    store: FakeMessageStore
    smsc: ScriptedSmsc
    channel: Channel
    dispatcher: Dispatcher

    async def send(self, count: int) -> None:
        await self.store.accept(
            AcceptBatch(1, [new_message(f"9955990{n:05d}") for n in range(count)]),
            self.clock.now(),
        )
        self.dispatcher.notify()

    def statuses(self) -> Counter[PartStatus]:
        return Counter(part.status for part in self.store.parts.values())

    async def until(self, condition: Callable[[], bool]) -> None:
        """Let the loop run (time stands still) until ``condition()`` holds."""
        async with asyncio.timeout(SAFETY):
            while not condition():
                await self.clock.advance(0)


@contextlib.asynccontextmanager
async def rig(
    smsc: ScriptedSmsc,
    channel_settings: dict[str, Any] | None = None,
    store: FakeMessageStore | None = None,
    **dispatcher: Any,
) -> AsyncIterator[Rig]:
    clock = VirtualClock()
    store = store or FakeMessageStore()
    settings = ChannelSettings(name="sim", port=0, window=5, **(channel_settings or {}))
    channel = Channel(
        settings,
        receipts=ReceiptHandler(store, clock=clock),
        clock=clock,
        client=dataclasses.replace(client_settings(settings), reconnect_initial=0.1),
        connector=smsc.connector,
    )
    channel.start()
    dispatch = Dispatcher(
        store, channel, DispatchSettings(batch_size=20), clock=clock, owner="rig", **dispatcher
    )
    try:
        await asyncio.wait_for(channel.wait_bound(), SAFETY)
        dispatch.start()
        yield Rig(clock, store, smsc, channel, dispatch)
    finally:
        smsc.release()
        await dispatch.stop()
        await channel.close()
        smsc.close()


async def test_refused_submit_rejects_the_part_with_the_status_name() -> None:
    def refuse(pdu: SubmitSm) -> SubmitSm | Any:
        return pdu.response(CommandStatus.ESME_RINVDSTADR)

    async with rig(ScriptedSmsc(refuse)) as r:
        await r.send(3)
        await r.until(lambda: r.statuses() == {P.REJECTED: 3})
        assert {part.error_code for part in r.store.parts.values()} == {"ESME_RINVDSTADR"}
        assert r.dispatcher.stats.rejected == 3


async def test_stop_waits_for_the_submits_in_flight_and_records_them() -> None:
    smsc = ScriptedSmsc()
    smsc.answer = smsc.hold
    async with rig(smsc) as r:
        await r.send(12)
        await r.until(lambda: len(smsc.held) == 5)  # the window is full
        stopping = asyncio.create_task(r.dispatcher.stop())
        await r.clock.advance(0)
        assert not stopping.done()
        smsc.release()
        await asyncio.wait_for(stopping, SAFETY)
        # The five on the wire are recorded; the others were never sent and wait for the lease.
        assert r.statuses() == {P.IN_TRANSIT: 5, P.SUBMITTING: 7}
        assert len(smsc.submits) == 5


async def test_stop_gives_up_on_submits_that_never_return() -> None:
    smsc = ScriptedSmsc()
    smsc.answer = smsc.hold
    async with rig(smsc, stop_timeout=3.0) as r:
        await r.send(2)
        await r.until(lambda: len(smsc.held) == 2)
        stopping = asyncio.create_task(r.dispatcher.stop())
        await r.clock.advance(2.9)
        assert not stopping.done()
        await r.clock.advance(0.1)
        await asyncio.wait_for(stopping, SAFETY)
        assert r.statuses() == {P.SUBMITTING: 2}  # unknown outcome: left to the lease


async def test_results_wait_for_storage_to_come_back() -> None:
    async with rig(ScriptedSmsc()) as r:
        r.store.fail["record_submissions"] = StorageUnavailable("database is locked")
        await r.send(3)
        await r.until(lambda: r.store.calls["record_submissions"] == 1)
        assert r.statuses() == {P.SUBMITTING: 3}
        await r.clock.advance(0.1)  # the retry backoff
        await r.until(lambda: r.statuses() == {P.IN_TRANSIT: 3})
        assert len(r.smsc.submits) == 3


async def test_claim_failure_is_retried() -> None:
    async with rig(ScriptedSmsc()) as r:
        await r.until(lambda: r.store.calls["claim_parts"] == 1)
        r.store.fail["claim_parts"] = StorageUnavailable("connection refused")
        await r.send(2)
        await r.until(lambda: r.store.calls["claim_parts"] == 2)
        await r.clock.advance(0.1)
        await r.until(lambda: r.statuses() == {P.IN_TRANSIT: 2})


class EarlyClaims(FakeMessageStore):
    """Claims as of a second ago: a part claimed just before its validity ended reaches the
    dispatcher after it (the store itself expires parts claimed after it, unsent)."""

    async def claim_parts(
        self, channel: str, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[PartToSend]:
        return await super().claim_parts(channel, limit, owner, now - _SECOND, lease_until)


_SECOND = timedelta(seconds=1)


async def test_unsendable_part_is_failed_without_reaching_the_smsc() -> None:
    async with rig(ScriptedSmsc(), store=EarlyClaims()) as r:
        await r.store.accept(
            AcceptBatch(1, [new_message("995599000001", valid_until=r.clock.now())]),
            r.clock.now(),
        )
        r.dispatcher.notify()
        await r.until(lambda: r.statuses() == {P.FAILED: 1})
        (part,) = r.store.parts.values()
        assert part.error_code == "VALIDITY_EXPIRED"
        assert r.smsc.submits == []


async def test_part_whose_lease_ran_out_while_waiting_is_not_sent() -> None:
    smsc = ScriptedSmsc()
    smsc.answer = smsc.hold
    async with rig(smsc, {"response_timeout": 100.0}) as r:
        await r.send(6)
        await r.until(lambda: len(smsc.held) == 5)
        # The sixth waits for room in the window until too little of its lease (60 s) is
        # left for a response (at most 30 s here) to come back in time.
        await r.clock.advance(55.0)
        smsc.release()
        await r.until(lambda: r.dispatcher.stats.lapsed == 1)
        assert len(smsc.submits) == 5


async def test_a_submit_accepted_without_a_message_id_ends_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_id(pdu: SubmitSm) -> SubmitSm | Any:
        return pdu.response(message_id="")

    async with rig(ScriptedSmsc(no_id)) as r:
        await r.send(2)
        await r.until(lambda: r.statuses() == {P.UNKNOWN: 2})
        assert {part.error_code for part in r.store.parts.values()} == {NO_MESSAGE_ID}
        assert (r.dispatcher.stats.submitted, r.dispatcher.stats.no_message_id) == (2, 2)
        assert len(r.smsc.submits) == 2  # not sent again
    assert "accepted with an empty message_id" in caplog.text
