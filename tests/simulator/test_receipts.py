"""Delivery receipts: timing, contents (Appendix B and TLVs), outcomes, routing, redelivery."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from mesiji.domain.delivery import DeliveryState
from mesiji.simulator import Outcome, SmscSimulator
from mesiji.smpp import tlv
from mesiji.smpp.constants import BindMode, CommandStatus, MessageState
from mesiji.smpp.fields import SmeAddress
from mesiji.smpp.pdus import DeliverSm, SubmitMulti, SubmitMultiResp, SubmitSmResp
from mesiji.smpp.receipts import parse_receipt
from mesiji.testing import VirtualClock
from mesiji.text import ConcatMethod, split_text

from .conftest import Esme, Harness

OUTCOME_STATES = {
    Outcome.delivered: MessageState.DELIVERED,
    Outcome.undelivered: MessageState.UNDELIVERABLE,
    Outcome.expired: MessageState.EXPIRED,
    Outcome.rejected: MessageState.REJECTED,
}


def receipted_id(pdu: DeliverSm) -> str | None:
    return pdu.tlv(tlv.receipted_message_id)


async def submit_id(esme: Esme, **fields: object) -> str:
    response = await esme.submit(**fields)
    assert isinstance(response, SubmitSmResp)
    assert response.command_status == 0
    return response.message_id


async def test_receipt_arrives_after_the_virtual_delay(
    harness: Harness, clock: VirtualClock
) -> None:
    sim = await harness.simulator(receipt_delay=120)
    esme = await harness.esme(sim)

    message_id = await submit_id(
        esme,
        source_addr="MESIJI",
        source_addr_ton=5,
        destination_addr="254700000001",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
        short_message=b"Your code is 123456, valid for 5 minutes",
    )
    await clock.advance(119.9)
    assert sim.stats.receipts_sent == 0
    assert sim.stats.receipts_pending == 1
    await clock.advance(0.1)
    [receipt] = await esme.wait_deliveries(1)

    assert receipt.esm_class == 0x04  # SMPP 3.4 §5.2.12: SMSC Delivery Receipt
    assert (receipt.source_addr, receipt.source_addr_ton, receipt.source_addr_npi) == (
        "254700000001",
        1,
        1,
    )
    assert (receipt.destination_addr, receipt.dest_addr_ton) == ("MESIJI", 5)
    assert receipted_id(receipt) == message_id
    assert receipt.tlv(tlv.message_state) == MessageState.DELIVERED
    parsed = parse_receipt(receipt.short_message)
    assert parsed.message_id == message_id
    assert parsed.state is DeliveryState.DELIVERED
    assert (parsed.stat, parsed.err, parsed.sub, parsed.dlvrd) == ("DELIVRD", "000", 1, 1)
    assert parsed.text == "Your code is 123456,"  # Appendix B: the first 20 characters
    assert parsed.submit_date == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert parsed.done_date == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    await harness.settle()
    assert sim.stats.receipts_acked == 1
    assert sim.stats.receipts_pending == 0


async def test_no_receipt_unless_asked(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(receipt_delay=1)
    esme = await harness.esme(sim)

    await submit_id(esme, registered_delivery=0)
    await clock.advance(10)

    assert sim.stats.receipts_pending == sim.stats.receipts_sent == 0
    assert esme.deliveries == []


async def run_outcomes(harness: Harness, clock: VirtualClock, seed: int) -> SmscSimulator:
    weights = {
        Outcome.delivered: 70,
        Outcome.undelivered: 20,
        Outcome.expired: 6,
        Outcome.rejected: 4,
    }
    sim = await harness.simulator(outcomes=weights, seed=seed, receipt_delay=1)
    esme = await harness.esme(sim)
    ids = [await submit_id(esme, registered_delivery=1) for _ in range(200)]
    await clock.advance(1)
    deliveries = await esme.wait_deliveries(200)

    state_of = {receipted_id(pdu): pdu.tlv(tlv.message_state) for pdu in deliveries}
    assert set(state_of) == set(ids)
    for record in sim.submitted:
        [outcome] = record.outcomes
        assert state_of[record.message_id] == OUTCOME_STATES[outcome]
        stat = parse_receipt(deliveries[ids.index(record.message_id)].short_message).stat
        assert stat == {"delivered": "DELIVRD", "undelivered": "UNDELIV"}.get(
            outcome, {"expired": "EXPIRED", "rejected": "REJECTD"}.get(outcome)
        )
    return sim


async def test_outcome_mix_with_a_seed(harness: Harness, clock: VirtualClock) -> None:
    first = await run_outcomes(harness, clock, seed=1234)
    second = await run_outcomes(harness, clock, seed=1234)

    # One random() per draw against the cumulative weights 70/90/96/100: these counts are
    # what random.Random(1234) gives, on every Python version.
    assert dict(first.stats.outcomes) == {
        Outcome.delivered: 142,
        Outcome.undelivered: 40,
        Outcome.expired: 13,
        Outcome.rejected: 5,
    }
    assert [r.outcomes for r in first.submitted] == [r.outcomes for r in second.submitted]


async def test_failure_only_receipts(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(
        outcomes={Outcome.delivered: 1, Outcome.undelivered: 1}, seed=7, receipt_delay=1
    )
    esme = await harness.esme(sim)

    for _ in range(20):
        await submit_id(esme, registered_delivery=2)  # §5.2.17: receipt on failure only
    await clock.advance(1)
    failures = sim.stats.outcomes[Outcome.undelivered]
    deliveries = await esme.wait_deliveries(failures)
    await harness.settle()
    assert sim.stats.receipts_acked == failures

    assert 0 < failures < 20
    assert len(deliveries) == failures
    assert {pdu.tlv(tlv.message_state) for pdu in deliveries} == {MessageState.UNDELIVERABLE}
    parsed = parse_receipt(deliveries[0].short_message)
    assert (parsed.stat, parsed.err) == ("UNDELIV", "001")
    assert deliveries[0].tlv(tlv.network_error_code) == bytes((3, 0, 1))


async def test_receipt_before_response_is_seen_on_the_wire(harness: Harness) -> None:
    sim = await harness.simulator(receipt_before_response=True)
    esme = await harness.esme(sim)

    message_ids = [await submit_id(esme, registered_delivery=1) for _ in range(3)]

    incoming = [pdu for direction, pdu in esme.wire if direction == "<"]
    for message_id in message_ids:
        receipt_at = next(
            i
            for i, pdu in enumerate(incoming)
            if isinstance(pdu, DeliverSm) and receipted_id(pdu) == message_id
        )
        response_at = next(
            i
            for i, pdu in enumerate(incoming)
            if isinstance(pdu, SubmitSmResp) and pdu.message_id == message_id
        )
        assert receipt_at < response_at


async def test_receipts_wait_for_a_receiver_to_bind(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(receipt_delay=1)
    sender = await harness.esme(sim, BindMode.transmitter, system_id="shop")
    message_id = await submit_id(sender, registered_delivery=1)
    await clock.advance(5)
    stranger = await harness.esme(sim, BindMode.receiver, system_id="someone-else")
    await harness.settle()

    assert sim.stats.receipts_pending == 1
    assert sim.stats.receipts_sent == 0

    receiver = await harness.esme(sim, BindMode.receiver, system_id="shop")
    [receipt] = await receiver.wait_deliveries(1)

    assert receipted_id(receipt) == message_id
    assert stranger.deliveries == []
    await harness.settle()
    assert sim.stats.receipts_pending == 0


async def test_refused_receipt_is_delivered_again(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(receipt_delay=1, redelivery_delay=30)
    esme = await harness.esme(sim)
    esme.answers.append(CommandStatus.ESME_RX_T_APPN)

    message_id = await submit_id(esme, registered_delivery=1)
    await clock.advance(1)
    await esme.wait_deliveries(1)
    await harness.settle()
    assert len(sim._scheduler) == 1  # the redelivery is planned
    await clock.advance(29)
    assert len(esme.deliveries) == 1
    await clock.advance(1)
    first, second = await esme.wait_deliveries(2)

    assert receipted_id(first) == receipted_id(second) == message_id
    assert first.short_message == second.short_message
    await harness.settle()
    assert sim.stats.receipts_acked == 1
    assert sim.stats.receipts_sent == 2
    assert sim.stats.receipts_pending == 0


async def test_unanswered_receipt_is_delivered_again(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(receipt_delay=1, response_timeout=5, redelivery_delay=2)
    esme = await harness.esme(sim)
    esme.answers.append(None)

    message_id = await submit_id(esme, registered_delivery=1)
    await clock.advance(1)
    await esme.wait_deliveries(1)
    await clock.advance(10)  # the response times out, then the redelivery comes due
    first, second = await esme.wait_deliveries(2)

    assert receipted_id(first) == receipted_id(second) == message_id
    await harness.settle()
    assert sim.stats.receipts_acked == 1


async def test_receipt_is_given_up_after_max_attempts(
    harness: Harness, clock: VirtualClock
) -> None:
    sim = await harness.simulator(receipt_delay=1, redelivery_delay=1, max_delivery_attempts=3)
    esme = await harness.esme(sim)
    esme.answers.extend([CommandStatus.ESME_RX_T_APPN] * 3)

    await submit_id(esme, registered_delivery=1)
    for count in (1, 2, 3):
        await clock.advance(1)
        await esme.wait_deliveries(count)
    await harness.settle()
    assert sim.stats.receipts_dropped == 1
    await clock.advance(10)

    assert len(esme.deliveries) == 3
    assert sim.stats.receipts_pending == 0


async def test_permanent_refusal_is_not_retried(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(receipt_delay=1, redelivery_delay=1)
    esme = await harness.esme(sim)
    esme.answers.append(CommandStatus.ESME_RX_P_APPN)

    await submit_id(esme, registered_delivery=1)
    await clock.advance(1)
    await harness.settle()
    assert sim.stats.receipts_dropped == 1
    await clock.advance(10)

    assert len(esme.deliveries) == 1


async def test_every_part_of_a_long_message_gets_its_receipt(
    harness: Harness, clock: VirtualClock
) -> None:
    sim = await harness.simulator(receipt_delay=1)
    esme = await harness.esme(sim)
    text = "".join(f"part {n} " * 30 for n in (1, 2, 3))[:400]
    parts = split_text(text, method=ConcatMethod.udh8, reference=9)
    assert len(parts) == 3

    ids = [
        await submit_id(esme, short_message=p.short_message, esm_class=0x40, registered_delivery=1)
        for p in parts
    ]
    await clock.advance(1)
    deliveries = await esme.wait_deliveries(3)

    assert sorted(receipted_id(pdu) or "" for pdu in deliveries) == sorted(ids)
    texts = {receipted_id(pdu): parse_receipt(pdu.short_message).text for pdu in deliveries}
    assert texts[ids[0]] == text[:20]  # without the UDH
    assert texts[ids[1]] == text[153:173]


async def test_submit_multi_gets_a_receipt_per_destination(
    harness: Harness, clock: VirtualClock
) -> None:
    sim = await harness.simulator(receipt_delay=1)
    esme = await harness.esme(sim)

    response = await esme.conn.request(
        SubmitMulti(
            source_addr="MESIJI",
            dest_address=(SmeAddress(1, 1, "254700000001"), SmeAddress(1, 1, "254700000002")),
            registered_delivery=1,
            short_message=b"to two",
        )
    )
    assert isinstance(response, SubmitMultiResp)
    await clock.advance(1)
    deliveries = await esme.wait_deliveries(2)

    assert {receipted_id(pdu) for pdu in deliveries} == {response.message_id}
    assert {pdu.source_addr for pdu in deliveries} == {"254700000001", "254700000002"}


async def test_window_bounds_outstanding_receipts_per_bind(
    harness: Harness, clock: VirtualClock
) -> None:
    sim = await harness.simulator(receipt_delay=1, window=2)
    sender = await harness.esme(sim, BindMode.transmitter)
    receiver = await harness.esme(sim, BindMode.receiver)
    receiver.answers.extend([None] * 5)

    for _ in range(5):
        await submit_id(sender, registered_delivery=1)
    await clock.advance(1)
    await receiver.wait_deliveries(2)
    await harness.settle()

    assert sim.stats.receipts_sent == 2
    receiver.answers.clear()
    receiver.release()
    await receiver.wait_deliveries(5)
    await harness.settle()
    assert sim.stats.receipts_acked == 5


async def test_receipts_are_spread_over_the_receiving_binds(
    harness: Harness, clock: VirtualClock
) -> None:
    sim = await harness.simulator(receipt_delay=1)
    sender = await harness.esme(sim, BindMode.transmitter)
    receivers = [await harness.esme(sim, BindMode.transceiver) for _ in range(2)]

    await asyncio.gather(*(submit_id(sender, registered_delivery=1) for _ in range(10)))
    await clock.advance(1)
    await harness.settle()
    assert sim.stats.receipts_acked == 10

    assert Counter(len(r.deliveries) for r in receivers) == Counter({5: 2})
