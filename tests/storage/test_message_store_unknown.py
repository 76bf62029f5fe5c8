"""Parts whose fate the gateway cannot learn end ``unknown``: no receipt in time, an empty
message_id from the SMSC, or an SMSC that gave the part's id to a newer part."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.smpp.receipts import message_id_keys
from mesiji.storage import SqlStore
from mesiji.storage.message_ports import GivenUp, IncomingReceipt, StatusChange, SubmitResult
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.receipts_sql import NO_RECEIPT, REUSED_ID
from mesiji.storage.schema import balance_ledger
from mesiji.testing import VirtualClock
from tests.storage.message_fixtures import (
    CHANNEL,
    LEASE,
    accept_one,
    balance,
    callbacks,
    count,
    funded_account,
    in_transit,
    part_statuses,
    sent,
)

WAIT = timedelta(hours=48)


def receipt(smsc_id: str, status: PartStatus = PartStatus.DELIVERED) -> IncomingReceipt:
    return IncomingReceipt(
        channel=CHANNEL,
        message_id_keys=message_id_keys(smsc_id),
        status=status,
        error_code=None,
        raw=f"id:{smsc_id} stat:{status}",
    )


async def test_a_part_without_a_receipt_ends_unknown_after_the_wait(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["4711"])
    assert await balance(store, account) == 9

    just_before = now + WAIT
    assert await message_store.give_up_waiting(just_before - WAIT, just_before, 100) == GivenUp(
        0, []
    )
    later = now + WAIT + timedelta(seconds=1)
    given_up = await message_store.give_up_waiting(later - WAIT, later, 100)
    assert given_up == GivenUp(1, [StatusChange(message_id, account, MessageStatus.UNKNOWN, later)])
    assert await part_statuses(store, message_id) == ["unknown"]
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert (view.status, view.error_code) == (MessageStatus.UNKNOWN, NO_RECEIPT)
    assert view.events[-1] == ("unknown", NO_RECEIPT, later)
    assert [(c["status"], c["error_code"]) for c in await callbacks(store, message_id)] == [
        ("in_transit", None),
        ("unknown", NO_RECEIPT),
    ]
    # The SMSC took it: paid for, nothing refunded.
    assert await balance(store, account) == 9
    assert await count(store, balance_ledger, balance_ledger.c.reason == "refund") == 0
    # Given up once: the next sweep finds nothing.
    assert await message_store.give_up_waiting(later, later, 100) == GivenUp(0, [])


async def test_a_late_receipt_corrects_unknown(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["4711"])
    later = now + WAIT * 2
    await message_store.give_up_waiting(later - WAIT, later, 100)
    changes = await message_store.apply_receipts([receipt("4711")], later)
    assert changes == [StatusChange(message_id, account, MessageStatus.DELIVERED, later)]
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert (view.status, view.error_code) == (MessageStatus.DELIVERED, None)
    assert [c["status"] for c in await callbacks(store, message_id)] == [
        "in_transit",
        "unknown",
        "delivered",
    ]


async def test_the_wait_starts_after_the_validity_and_touches_no_other_part(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    valid_until = now + WAIT * 3
    long_lived, _ = await in_transit(message_store, account, now, ["1"], valid_until=valid_until)
    delivered, _ = await in_transit(message_store, account, now, ["2"])
    await message_store.apply_receipts([receipt("2")], now)
    claimed = await accept_one(message_store, account, now)
    queued = await accept_one(message_store, account, now)
    await message_store.claim_parts(CHANNEL, 1, "gw", now, now + WAIT * 10)

    later = now + WAIT * 2
    assert (await message_store.give_up_waiting(later - WAIT, later, 100)).parts == 0
    after_validity = valid_until
    assert (await message_store.give_up_waiting(later - WAIT, after_validity, 100)).parts == 1
    assert await part_statuses(store, long_lived) == ["unknown"]
    assert await part_statuses(store, delivered) == ["delivered"]
    assert await part_statuses(store, claimed) == ["submitting"]
    assert await part_statuses(store, queued) == ["queued"]


async def test_parts_are_given_up_in_batches(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    first, _ = await in_transit(message_store, account, now, ["a1", "a2", "a3"])
    later = now + WAIT * 2
    batch = await message_store.give_up_waiting(later - WAIT, later, 2)
    # Two parts of three: the message is still in transit, so no status change yet.
    assert batch == GivenUp(2, [])
    assert await part_statuses(store, first) == ["unknown", "unknown", "in_transit"]
    rest = await message_store.give_up_waiting(later - WAIT, later, 2)
    assert rest == GivenUp(1, [StatusChange(first, account, MessageStatus.UNKNOWN, later)])
    assert await message_store.give_up_waiting(later - WAIT, later, 0) == GivenUp(0, [])


async def test_a_part_accepted_without_a_message_id_ends_unknown_at_once(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, callback_url="https://c")
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    changes = await message_store.record_submissions(
        [SubmitResult(part.part_id, status=PartStatus.UNKNOWN, error_code="NO_MESSAGE_ID")], now
    )
    assert changes == [StatusChange(message_id, account, MessageStatus.UNKNOWN, now)]
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert (view.status, view.error_code) == (MessageStatus.UNKNOWN, "NO_MESSAGE_ID")
    assert await balance(store, account) == 9  # taken by the SMSC: paid for
    assert [c["status"] for c in await callbacks(store, message_id)] == ["unknown"]


async def test_a_reused_id_retires_the_older_part_and_its_receipt_goes_to_the_newer(
    store: SqlStore,
    message_store: SqlMessageStore,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = await funded_account(store)
    now = clock.now()
    older, _ = await in_transit(message_store, account, now, ["77"])
    later = now + timedelta(seconds=5)
    newer = await accept_one(message_store, account, later, callback_url="https://c")
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", later, later + LEASE)
    changes = await message_store.record_submissions([sent(part, "0077")], later)
    assert sorted((c.message_id, c.status) for c in changes) == [
        (older, MessageStatus.UNKNOWN),
        (newer, MessageStatus.IN_TRANSIT),
    ]
    view = await message_store.get_message(account, older)
    assert view is not None
    assert (view.status, view.error_code) == (MessageStatus.UNKNOWN, REUSED_ID)
    assert "the SMSC gave message id 77 to part" in caplog.text

    done = later + timedelta(seconds=5)
    changes = await message_store.apply_receipts([receipt("77", PartStatus.UNDELIVERED)], done)
    assert changes == [StatusChange(newer, account, MessageStatus.UNDELIVERED, done)]
    assert await part_statuses(store, older) == ["unknown"]
    # Nor does a second receipt for the id reach the older part.
    assert await message_store.apply_receipts([receipt("77")], done) == []
    assert await part_statuses(store, older) == ["unknown"]


async def test_a_reused_id_within_one_batch_keeps_the_highest_part(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    first = await accept_one(message_store, account, now)
    second = await accept_one(message_store, account, now)
    a, b = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    await message_store.record_submissions([sent(b, "5"), sent(a, "5")], now)
    assert await part_statuses(store, first) == ["unknown"]
    assert await part_statuses(store, second) == ["in_transit"]
    await message_store.apply_receipts([receipt("5")], now)
    assert await part_statuses(store, second) == ["delivered"]


async def test_an_id_reused_after_its_part_ended_goes_to_the_latest_submission(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    first = await accept_one(message_store, account, now)
    second = await accept_one(message_store, account, now)
    a, b = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    # The later part is submitted first and delivered; then the earlier part gets its id.
    await message_store.record_submissions([sent(b, "9")], now)
    await message_store.apply_receipts([receipt("9")], now)
    later = now + timedelta(minutes=1)
    assert [c.status for c in await message_store.record_submissions([sent(a, "9")], later)] == [
        MessageStatus.IN_TRANSIT
    ]
    assert await part_statuses(store, second) == ["delivered"]  # final: nothing to retire
    await message_store.apply_receipts([receipt("9", PartStatus.EXPIRED)], later)
    assert await part_statuses(store, first) == ["expired"]
    assert await part_statuses(store, second) == ["delivered"]
