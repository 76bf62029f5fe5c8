"""Claiming parts and recording submit results, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.storage import SqlStore
from mesiji.storage.message_ports import AcceptBatch, StatusChange, SubmitResult
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.schema import balance_ledger, notifications, parts
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database
from tests.storage.message_fixtures import (
    CHANNEL,
    LEASE,
    accept_one,
    balance,
    callbacks,
    count,
    funded_account,
    message,
    part_statuses,
    sent,
)


async def test_claims_follow_channel_limit_and_order(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    first = await accept_one(message_store, account, now, segments=3, body="x" * 400)
    other = await accept_one(message_store, account, now, channel="silknet")
    second = await accept_one(message_store, account, now)

    claimed = await message_store.claim_parts(CHANNEL, 2, "gw-1", now, now + LEASE)
    assert [(p.message_id, p.seqnum, p.total) for p in claimed] == [(first, 1, 3), (first, 2, 3)]
    part = claimed[0]
    assert (part.sender, part.destination, part.body, part.alphabet) == (
        "Mesiji",
        "995599000000",
        "x" * 400,
        "gsm7",
    )
    assert (part.account_id, part.attempts, part.valid_until) == (account, 1, None)
    assert part.concat_reference == first % 256 == claimed[1].concat_reference

    rest = await message_store.claim_parts(CHANNEL, 10, "gw-1", now, now + LEASE)
    assert [(p.message_id, p.seqnum) for p in rest] == [(first, 3), (second, 1)]
    assert await message_store.claim_parts(CHANNEL, 10, "gw-1", now, now + LEASE) == []
    assert [p.message_id for p in await message_store.claim_parts("silknet", 5, "g", now, now)] == [
        other
    ]
    assert await message_store.claim_parts(CHANNEL, 0, "gw-1", now, now + LEASE) == []


async def test_a_scheduled_message_waits_for_its_time(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    at = now + timedelta(hours=1)
    scheduled = await accept_one(message_store, account, now, send_at=at, callback_url="https://c")
    assert await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE) == []
    early = at - timedelta(seconds=1)
    assert await message_store.claim_parts(CHANNEL, 10, "gw", early, early + LEASE) == []

    claimed = await message_store.claim_parts(CHANNEL, 10, "gw", at, at + LEASE)
    assert [p.message_id for p in claimed] == [scheduled]
    view = await message_store.get_message(account, scheduled)
    assert view is not None
    assert view.status is MessageStatus.QUEUED
    assert [e[0] for e in view.events] == ["scheduled", "queued"]
    assert [c["status"] for c in await callbacks(store, scheduled)] == ["queued"]


async def test_a_part_past_its_validity_expires_unsent_and_is_refunded(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    stale = await accept_one(
        message_store,
        account,
        now,
        segments=2,
        valid_until=now + timedelta(minutes=5),
        callback_url="https://c",
    )
    fresh = await accept_one(message_store, account, now)
    assert await balance(store, account) == 7

    later = now + timedelta(minutes=5)
    claimed = await message_store.claim_parts(CHANNEL, 1, "gw", later, later + LEASE)
    # The expired parts took no place in the answer.
    assert [p.message_id for p in claimed] == [fresh]
    assert await part_statuses(store, stale) == ["expired", "expired"]
    view = await message_store.get_message(account, stale)
    assert view is not None
    assert view.status is MessageStatus.EXPIRED
    assert await balance(store, account) == 9
    assert await count(store, balance_ledger, balance_ledger.c.message_id == stale) == 2
    assert [c["status"] for c in await callbacks(store, stale)] == ["expired"]


async def test_a_lease_hides_a_part_until_it_runs_out(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id = await accept_one(message_store, account, now)
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw-1", now, now + LEASE)
    assert await message_store.claim_parts(CHANNEL, 10, "gw-2", now + LEASE, now + 2 * LEASE) == []

    # gw-1 died: once its lease has run out, another gateway takes the part over.
    later = now + LEASE + timedelta(seconds=1)
    [again] = await message_store.claim_parts(CHANNEL, 10, "gw-2", later, later + LEASE)
    assert (again.part_id, again.message_id, again.attempts) == (part.part_id, message_id, 2)
    assert await message_store.claim_parts(CHANNEL, 10, "gw-3", later, later + LEASE) == []


async def test_concurrent_claimers_never_share_a_part(
    database: Database, store: SqlStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 1000)
    now = clock.now()
    setup = SqlMessageStore(store.engine)
    await setup.accept(
        AcceptBatch(account, [message(destination=f"995599{i:06d}") for i in range(300)]), now
    )
    engine = database.engine(busy_timeout=60)
    try:
        claimer = SqlMessageStore(engine)

        async def claim_all(owner: str) -> list[int]:
            taken: list[int] = []
            while batch := await claimer.claim_parts(CHANNEL, 7, owner, now, now + LEASE):
                taken += [p.part_id for p in batch]
            return taken

        results = await asyncio.gather(*(claim_all(f"gw-{i}") for i in range(4)))
    finally:
        await engine.dispose()
    every = [part_id for taken in results for part_id in taken]
    assert len(every) == len(set(every)) == 300
    if database.kind == "postgresql":
        # Claims really overlapped: more than one claimer got work.
        assert sum(1 for taken in results if taken) > 1


@pytest.mark.sql_only
async def test_submitted_parts_go_in_transit(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, callback_url="https://c/1")
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    later = now + timedelta(seconds=2)

    changes = await message_store.record_submissions([sent(part, "000a3f")], later)
    assert changes == [StatusChange(message_id, account, MessageStatus.IN_TRANSIT, later)]
    assert await part_statuses(store, message_id) == ["in_transit"]
    async with store.engine.connect() as conn:
        row = (await conn.execute(parts.select().where(parts.c.id == part.part_id))).one()
    assert (row.smsc_message_id, row.submitted_at, row.lease_owner, row.lease_until) == (
        "A3F",
        later,
        None,
        None,
    )
    [callback] = await callbacks(store, message_id)
    assert callback == {
        "event": "status",
        "id": message_id,
        "reference": None,
        "to": "995599000000",
        "status": "in_transit",
        "error_code": None,
        "segments": 1,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:02.000Z",
    }
    # An in-transit part is never claimed again, its lease long gone or not.
    far = now + timedelta(days=1)
    assert await message_store.claim_parts(CHANNEL, 10, "gw", far, far + LEASE) == []


async def test_a_refused_part_is_final_and_refunded(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, segments=2, credits=4)
    first, second = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    assert await balance(store, account) == 6

    changes = await message_store.record_submissions(
        [
            sent(first, "77"),
            SubmitResult(second.part_id, status=PartStatus.REJECTED, error_code="0x0000000A"),
        ],
        now,
    )
    # One part still in transit keeps the message in transit.
    assert [c.status for c in changes] == [MessageStatus.IN_TRANSIT]
    assert await part_statuses(store, message_id) == ["in_transit", "rejected"]
    assert await balance(store, account) == 8
    assert await count(store, balance_ledger, balance_ledger.c.reason == "refund") == 1

    # A late or repeated result for a part that has moved on changes nothing.
    late = [
        SubmitResult(first.part_id, status=PartStatus.FAILED, error_code="timeout"),
        sent(second, "78"),
    ]
    assert await message_store.record_submissions(late, now) == []
    assert await part_statuses(store, message_id) == ["in_transit", "rejected"]
    assert await balance(store, account) == 8


async def test_a_message_whose_parts_all_failed_is_failed(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, callback_url="https://c")
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    changes = await message_store.record_submissions(
        [SubmitResult(part.part_id, status=PartStatus.FAILED, error_code="no_route")], now
    )
    assert [c.status for c in changes] == [MessageStatus.FAILED]
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert (view.status, view.error_code) == (MessageStatus.FAILED, "no_route")
    assert view.events[-1] == ("failed", "no_route", now)
    assert await balance(store, account) == 10
    assert [(c["status"], c["error_code"]) for c in await callbacks(store, message_id)] == [
        ("failed", "no_route")
    ]


async def test_a_transient_refusal_puts_the_part_back_in_the_queue(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id = await accept_one(message_store, account, now)
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    throttled = SubmitResult(part.part_id, status=PartStatus.QUEUED, error_code="throttled")
    assert await message_store.record_submissions([throttled], now) == []
    assert await part_statuses(store, message_id) == ["queued"]
    [again] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    assert (again.part_id, again.attempts) == (part.part_id, 2)


async def test_submit_results_must_make_sense(message_store: SqlMessageStore) -> None:
    for nonsense in (
        SubmitResult(1),
        SubmitResult(1, smsc_message_id="1", status=PartStatus.FAILED),
        SubmitResult(1, status=PartStatus.DELIVERED),
    ):
        with pytest.raises(ValueError, match="part 1"):
            await message_store.record_submissions([nonsense], VirtualClock().now())


@pytest.mark.sql_only
async def test_no_callback_without_a_url(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    now = clock.now()
    silent = await funded_account(store)
    await accept_one(message_store, silent, now)
    # An account-wide callback URL serves messages that have none of their own.
    loud = await funded_account(store, callback_url="https://account/cb")
    loud_message = await accept_one(message_store, loud, now)
    claimed = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    await message_store.record_submissions(
        [sent(p, str(100 + i)) for i, p in enumerate(claimed)], now
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(notifications.select())).all()
    assert [(r.message_id, r.account_id, r.url) for r in rows] == [
        (loud_message, loud, "https://account/cb")
    ]
