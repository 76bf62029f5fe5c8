"""Delivery receipts: matching, waiting for the submit result, and what they change."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.smpp.receipts import message_id_keys
from mesiji.storage import SqlStore
from mesiji.storage.message_ports import (
    AcceptBatch,
    IncomingReceipt,
    StatusChange,
)
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.schema import message_events, notifications, receipts
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database
from tests.storage.message_fixtures import (
    CHANNEL,
    LEASE,
    accept_one,
    callbacks,
    count,
    funded_account,
    in_transit,
    message,
    part_statuses,
    sent,
)


def receipt(
    smsc_id: str,
    status: PartStatus | None = PartStatus.DELIVERED,
    *,
    error_code: str | None = None,
    channel: str = CHANNEL,
) -> IncomingReceipt:
    return IncomingReceipt(
        channel=channel,
        message_id_keys=message_id_keys(smsc_id),
        status=status,
        error_code=error_code,
        raw=f"id:{smsc_id} stat:{status}",
    )


async def test_a_receipt_delivers_the_message(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["4711"])
    later = now + timedelta(seconds=5)
    changes = await message_store.apply_receipts([receipt("4711")], later)
    assert changes == [StatusChange(message_id, account, MessageStatus.DELIVERED, later)]
    assert await part_statuses(store, message_id) == ["delivered"]
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert [(s, at) for s, _, at in view.events] == [
        ("queued", now),
        ("in_transit", now),
        ("delivered", later),
    ]
    assert [c["status"] for c in await callbacks(store, message_id)] == ["in_transit", "delivered"]


async def test_a_repeated_receipt_changes_nothing(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["4711"])
    await message_store.apply_receipts([receipt("4711", PartStatus.UNDELIVERED)], now)
    events = await count(store, message_events)
    sent_callbacks = await count(store, notifications)

    for repeated in (
        receipt("4711", PartStatus.UNDELIVERED),
        receipt("4711", PartStatus.REJECTED),
        receipt("4711", PartStatus.DELIVERED),
    ):
        assert await message_store.apply_receipts([repeated], now) == []
    assert await part_statuses(store, message_id) == ["undelivered"]
    assert await count(store, message_events) == events
    assert await count(store, notifications) == sent_callbacks
    assert await count(store, receipts) == 0


async def test_every_printing_of_an_id_finds_its_part_once(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    decimal, _ = await in_transit(message_store, account, now, ["2623"])
    hexadecimal, _ = await in_transit(message_store, account, now, ["00ff"])

    printings = [receipt("A3F"), receipt("0002623"), receipt(" 2623"), receipt("2623")]
    assert [c.message_id for c in await message_store.apply_receipts(printings, now)] == [decimal]
    assert [c.message_id for c in await message_store.apply_receipts([receipt("255")], now)] == [
        hexadecimal
    ]
    assert await message_store.apply_receipts([receipt("0xFF"[2:]), receipt("0255")], now) == []
    for message_id in (decimal, hexadecimal):
        assert await part_statuses(store, message_id) == ["delivered"]
        assert [c["status"] for c in await callbacks(store, message_id)] == [
            "in_transit",
            "delivered",
        ]
    assert await count(store, receipts) == 0


async def test_a_receipt_that_beats_its_submit_result_waits_for_it(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, callback_url="https://c")
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)

    early = receipt("0A3F", PartStatus.UNDELIVERED, error_code="001")
    assert await message_store.apply_receipts([early, early], now) == []
    assert await message_store.apply_receipts([early], now) == []
    assert await count(store, receipts) == 1
    assert await part_statuses(store, message_id) == ["submitting"]

    later = now + timedelta(seconds=1)
    # The submit_sm_resp printed the id in decimal.
    changes = await message_store.record_submissions([sent(part, "2623")], later)
    assert changes == [StatusChange(message_id, account, MessageStatus.UNDELIVERED, later)]
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert (view.status, view.error_code) == (MessageStatus.UNDELIVERED, "001")
    assert [c["status"] for c in await callbacks(store, message_id)] == ["undelivered"]
    assert await count(store, receipts, receipts.c.matched_part_id == part.part_id) == 1
    assert await count(store, receipts, receipts.c.matched_part_id.is_(None)) == 0


async def test_a_waiting_receipt_prefers_the_literal_id(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id = await accept_one(message_store, account, now)
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    # "10" in hex is 16: a receipt for another message whose id printed "16".
    await message_store.apply_receipts(
        [receipt("16", PartStatus.REJECTED), receipt("10", PartStatus.DELIVERED)], now
    )
    await message_store.record_submissions([sent(part, "10")], now)
    assert await part_statuses(store, message_id) == ["delivered"]
    assert await count(store, receipts, receipts.c.matched_part_id.is_(None)) == 1


async def test_a_multipart_message_is_delivered_when_every_part_is(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["a1", "a2", "a3"])
    assert await message_store.apply_receipts([receipt("a1"), receipt("a3")], now) == []
    assert await part_statuses(store, message_id) == ["delivered", "in_transit", "delivered"]
    changes = await message_store.apply_receipts([receipt("a2")], now)
    assert [c.status for c in changes] == [MessageStatus.DELIVERED]

    mixed, _ = await in_transit(message_store, account, now, ["b1", "b2"])
    await message_store.apply_receipts(
        [receipt("b1"), receipt("b2", PartStatus.UNDELIVERED, error_code="011")], now
    )
    view = await message_store.get_message(account, mixed)
    assert view is not None
    assert (view.status, view.error_code) == (MessageStatus.UNDELIVERED, "011")


async def test_intermediate_receipts_change_nothing(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["77"])
    assert await message_store.apply_receipts([receipt("77", None), receipt("78", None)], now) == []
    assert await part_statuses(store, message_id) == ["in_transit"]
    assert await count(store, receipts) == 0


async def test_receipts_match_parts_of_their_own_channel(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["55"])
    assert await message_store.apply_receipts([receipt("55", channel="silknet")], now) == []
    assert await part_statuses(store, message_id) == ["in_transit"]
    assert await count(store, receipts, receipts.c.channel == "silknet") == 1


async def test_an_expired_part_may_still_be_delivered(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["99"])
    await message_store.apply_receipts([receipt("99", PartStatus.EXPIRED)], now)
    assert await message_store.apply_receipts([receipt("99", PartStatus.UNDELIVERED)], now) == []
    changes = await message_store.apply_receipts([receipt("99")], now)
    assert [c.status for c in changes] == [MessageStatus.DELIVERED]
    assert [c["status"] for c in await callbacks(store, message_id)] == [
        "in_transit",
        "expired",
        "delivered",
    ]


async def test_concurrent_receipts_for_sibling_parts_finish_the_message(
    database: Database, store: SqlStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    setup = SqlMessageStore(store.engine)
    accepted = await setup.accept(AcceptBatch(account, [message(segments=2)] * 20), now)
    claimed = await setup.claim_parts(CHANNEL, 100, "gw", now, now + LEASE)
    await setup.record_submissions([sent(p, f"{p.part_id:X}") for p in claimed], now)

    engine = database.engine(busy_timeout=60)
    try:
        receiver = SqlMessageStore(engine)
        # Each part's receipt in its own transaction, all at once.
        await asyncio.gather(
            *(receiver.apply_receipts([receipt(f"{p.part_id:X}")], now) for p in claimed)
        )
    finally:
        await engine.dispose()
    for message_id in accepted.message_ids:
        view = await setup.get_message(account, message_id)
        assert view is not None
        assert view.status is MessageStatus.DELIVERED


async def test_a_receipt_racing_its_submit_result_is_applied(
    database: Database, store: SqlStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    setup = SqlMessageStore(store.engine)
    await setup.accept(AcceptBatch(account, [message()] * 60), now)
    claimed = await setup.claim_parts(CHANNEL, 100, "gw", now, now + LEASE)

    engine = database.engine(busy_timeout=60, pool_size=20)
    try:
        gateway = SqlMessageStore(engine)
        # The transmitter records each submit_sm_resp while the receiver stores the receipt
        # that followed it, each in its own transaction. The SMSC prints ids in hex in one and
        # in decimal in the other; five hex digits never read as another part's decimal id.
        work = []
        for p in claimed:
            smsc_id = 0xF0000 + p.part_id
            work.append(gateway.record_submissions([sent(p, f"{smsc_id:X}")], now))
            work.append(gateway.apply_receipts([receipt(str(smsc_id))], now))
        await asyncio.gather(*work)
    finally:
        await engine.dispose()
    statuses = [s for p in claimed for s in await part_statuses(store, p.message_id)]
    assert statuses == ["delivered"] * len(claimed)
    assert await count(store, receipts, receipts.c.matched_part_id.is_(None)) == 0


async def test_an_account_callback_gets_the_smsoffice_get_form(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, callback_url="https://client.example/dlr?token=1")
    now = clock.now()
    message_id = await accept_one(
        message_store, account, now, reference="order-9", operator="Magti"
    )
    claimed = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    await message_store.record_submissions([sent(claimed[0], "77")], now)
    await message_store.apply_receipts([receipt("77")], now)
    delivered = (await callbacks(store, message_id))[-1]
    assert delivered == {
        "method": "GET",
        "query": {
            "reference": "order-9",
            "status": "delivered",
            "reason": "",
            "destination": "995599000000",
            "timestamp": delivered["query"]["timestamp"],
            "operator": "Magti",
        },
    }
