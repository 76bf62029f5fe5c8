"""Dispatch over memory pairs: claimed parts reach the simulated SMSC, outcomes are recorded."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.services.receipts import ReceiptHandler, ReceiptSink
from mesiji.simulator import Outcome
from mesiji.simulator.submit_log import concat_of
from mesiji.smpp.pdus import DataSm, DeliverSm, SubmitSm
from mesiji.smpp.receipts import canonical_message_id

from .conftest import GEORGIAN, Pipeline, PipelineFactory, new_message
from .fakes import FakeMessageStore

P = PartStatus


def destinations(p: Pipeline) -> list[str]:
    return [s.pdu.destination_addr for s in p.simulator.submitted if isinstance(s.pdu, SubmitSm)]


def statuses(p: Pipeline) -> Counter[PartStatus]:
    return Counter(part.status for part in p.parts())


async def message_status(p: Pipeline, message_id: int) -> MessageStatus:
    view = await p.store.get_message(1, message_id)
    assert view is not None
    return view.status


async def test_parts_are_submitted_then_delivered(make_pipeline: PipelineFactory) -> None:
    async with make_pipeline() as p:
        ids = await p.send(["one", "two", GEORGIAN])
        await p.until(lambda: statuses(p) == {P.IN_TRANSIT: 5})
        submitted = {canonical_message_id(s.message_id) for s in p.simulator.submitted}
        assert {part.smsc_message_id for part in p.parts()} == submitted
        assert len(submitted) == 5
        assert [await message_status(p, i) for i in ids] == [MessageStatus.IN_TRANSIT] * 3

        await p.clock.advance(1.0)  # the simulator's receipt delay
        await p.until(lambda: statuses(p) == {P.DELIVERED: 5})
        assert [await message_status(p, i) for i in ids] == [MessageStatus.DELIVERED] * 3
        assert p.receipts.stored == 5
        assert p.dispatcher.stats.submitted == 5


async def test_georgian_message_goes_as_three_ucs2_parts_with_one_reference(
    make_pipeline: PipelineFactory,
) -> None:
    async with make_pipeline() as p:
        await p.send([GEORGIAN])
        await p.until(lambda: len(p.simulator.submitted) == 3)
        concat = [
            concat_of(s.short_message, s.pdu.esm_class, s.pdu.tlvs) for s in p.simulator.submitted
        ]
        assert sorted(c["seqnum"] for c in concat) == [1, 2, 3]
        assert {(c["method"], c["total"]) for c in concat} == {("udh", 3)}
        assert len({c["reference"] for c in concat}) == 1
        assert {s.pdu.data_coding for s in p.simulator.submitted} == {0x08}
        assert {s.pdu.registered_delivery for s in p.simulator.submitted} == {1}


class OneAtATime:
    """A receipt sink that holds every receipt until the test lets it through."""

    def __init__(self, inner: ReceiptHandler) -> None:
        self.inner = inner
        self.held: list[asyncio.Future[None]] = []

    async def handle(self, channel: str, pdu: DeliverSm | DataSm) -> None:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append(gate)
        await gate
        await self.inner.handle(channel, pdu)


async def test_multipart_message_is_delivered_only_after_its_last_receipt(
    make_pipeline: PipelineFactory,
) -> None:
    gates: list[OneAtATime] = []

    def wrap(inner: ReceiptHandler) -> ReceiptSink:
        gates.append(OneAtATime(inner))
        return gates[0]

    async with make_pipeline(wrap_receipts=wrap) as p:
        (message_id,) = await p.send([GEORGIAN])
        await p.until(lambda: statuses(p) == {P.IN_TRANSIT: 3})
        await p.clock.advance(1.0)
        gate = gates[0]
        await p.until(lambda: len(gate.held) == 3)
        for released in range(1, 4):
            gate.held[released - 1].set_result(None)
            await p.until(lambda n=released: statuses(p)[P.DELIVERED] == n)  # type: ignore[misc]
            expected = MessageStatus.DELIVERED if released == 3 else MessageStatus.IN_TRANSIT
            assert await message_status(p, message_id) == expected


async def test_receipt_before_its_submit_response_still_ends_delivered(
    make_pipeline: PipelineFactory,
) -> None:
    async with make_pipeline(receipt_before_response=True) as p:
        ids = await p.send(["early receipts", GEORGIAN])
        await p.until(lambda: statuses(p) == {P.DELIVERED: 4})
        assert [await message_status(p, i) for i in ids] == [MessageStatus.DELIVERED] * 2


async def test_receipt_stored_before_its_submit_result_waits_for_it(
    make_pipeline: PipelineFactory, store: FakeMessageStore
) -> None:
    store.gates["record_submissions"] = gate = asyncio.Event()
    async with make_pipeline(receipt_before_response=True) as p:
        (message_id,) = await p.send([GEORGIAN])
        await p.until(lambda: p.simulator.stats.receipts_acked == 3)
        assert store.early_receipts == 3  # committed and acknowledged, no part to match yet
        assert statuses(p) == {P.SUBMITTING: 3}
        gate.set()
        await p.until(lambda: statuses(p) == {P.DELIVERED: 3})
        assert await message_status(p, message_id) == MessageStatus.DELIVERED


async def test_rejected_receipt_rejects_the_part(make_pipeline: PipelineFactory) -> None:
    async with make_pipeline(outcomes={"rejected": 1}) as p:
        (message_id,) = await p.send(["refused"])
        await p.until(lambda: statuses(p) == {P.IN_TRANSIT: 1})
        await p.clock.advance(1.0)
        await p.until(lambda: statuses(p) == {P.REJECTED: 1})
        view = await p.store.get_message(1, message_id)
        assert view is not None
        assert view.status is MessageStatus.REJECTED
        assert view.error_code == "011"


async def test_undelivered_and_expired_receipts(make_pipeline: PipelineFactory) -> None:
    async with make_pipeline(outcomes={"undelivered": 1, "expired": 1}, seed=7) as p:
        await p.send([f"text {n}" for n in range(10)])
        await p.until(lambda: statuses(p)[P.IN_TRANSIT] == 10)
        await p.clock.advance(1.0)
        await p.until(lambda: statuses(p)[P.IN_TRANSIT] == 0)
        outcomes = p.simulator.stats.outcomes
        assert statuses(p) == {
            P.UNDELIVERED: outcomes[Outcome.undelivered],
            P.EXPIRED: outcomes[Outcome.expired],
        }


async def test_link_dropped_mid_batch_resubmits_only_unknown_outcomes(
    make_pipeline: PipelineFactory,
) -> None:
    count = 30
    async with make_pipeline(drop_after=4, dispatch={"batch_size": 50, "lease_seconds": 20}) as p:
        await p.send([f"message {n}" for n in range(count)])
        await p.until(lambda: p.dispatcher.stats.unknown > 0)
        # Unknown outcomes stay claimed until their lease runs out.
        assert statuses(p)[P.SUBMITTING] > 0
        await p.until(
            lambda: statuses(p)[P.IN_TRANSIT] + statuses(p)[P.DELIVERED] == count, step=0.5
        )
        await p.clock.advance(1.0)
        await p.until(lambda: statuses(p) == {P.DELIVERED: count}, step=0.5)

        accepted = Counter(destinations(p))
        assert len(accepted) == count
        assert set(accepted.values()) == {1}  # nobody got a message twice
        stats = p.dispatcher.stats
        assert stats.submitted == count
        # Each claim beyond the first is explained by an outcome left to the lease.
        extra_claims = sum(part.attempts for part in p.parts()) - count
        assert extra_claims == stats.unknown + stats.lapsed + stats.deferred
        assert extra_claims > 0
        assert p.channel.client.stats.links_lost >= 1


async def test_throttling_slows_but_loses_nothing(make_pipeline: PipelineFactory) -> None:
    count = 20
    async with make_pipeline(throttle_every=3) as p:
        await p.send([f"message {n}" for n in range(count)])
        await p.until(lambda: statuses(p)[P.IN_TRANSIT] == count, step=0.5)
        assert p.simulator.stats.throttled > 0
        accepted = Counter(destinations(p))
        assert len(accepted) == count
        assert set(accepted.values()) == {1}
        assert p.dispatcher.stats.deferred == 0


async def test_notify_wakes_at_once_and_polling_finds_the_rest(
    make_pipeline: PipelineFactory,
) -> None:
    async with make_pipeline(dispatcher={"poll_interval": 5.0}) as p:
        await p.until(lambda: p.store.calls["claim_parts"] == 1)  # found nothing, now idle
        await p.accept([new_message("995599000001")])
        await p.clock.advance(0)
        assert statuses(p) == {P.QUEUED: 1}  # nobody said there was work
        p.dispatcher.notify()
        await p.until(lambda: statuses(p) == {P.IN_TRANSIT: 1})

        await p.accept([new_message("995599000002")])  # as another gateway would
        await p.clock.advance(4.0)
        assert statuses(p)[P.QUEUED] == 1
        await p.clock.advance(1.0)
        await p.until(lambda: p.dispatcher.stats.submitted == 2)
        assert statuses(p)[P.QUEUED] == 0


async def test_results_are_recorded_in_batches(make_pipeline: PipelineFactory) -> None:
    count = 400
    async with make_pipeline(channel={"window": 50}, dispatch={"batch_size": 100}) as p:
        await p.send([f"message {n}" for n in range(count)])
        await p.until(lambda: statuses(p)[P.IN_TRANSIT] == count)
        sizes = p.store.sizes["record_submissions"]
        assert sum(sizes) == count
        assert len(sizes) <= count // 20
        assert p.store.calls["claim_parts"] >= count // 100


async def test_scheduled_message_waits_for_its_time(make_pipeline: PipelineFactory) -> None:
    async with make_pipeline() as p:
        send_at = p.clock.now() + timedelta(seconds=30)
        await p.accept([new_message("995599000001", send_at=send_at)])
        p.dispatcher.notify()
        await p.clock.advance(0)
        assert statuses(p) == {P.QUEUED: 1}
        await p.until(lambda: statuses(p) == {P.IN_TRANSIT: 1}, step=1.0)
        assert p.clock.now() >= send_at
