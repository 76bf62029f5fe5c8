"""Cancelling messages before a dispatcher claims them, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from mesiji.domain.statuses import MessageStatus
from mesiji.storage import SqlStore
from mesiji.storage.cancel_sql import cancel_message
from mesiji.storage.engine import WRITE
from mesiji.storage.memory import MemoryMessageStore
from mesiji.storage.message_ports import Cancellation, PartToSend, StatusChange
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.outcomes_sql import REFUND_REASON
from mesiji.storage.schema import balance_ledger, notifications
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database, in_another_process
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
)


async def _ledger(store: SqlStore, account: int) -> list[tuple[int, str, int | None]]:
    if isinstance(store, MemoryMessageStore):
        return [(d, r, m) for a, d, r, m in store.ledger if a == account]
    query = (
        select(balance_ledger.c.delta, balance_ledger.c.reason, balance_ledger.c.message_id)
        .where(balance_ledger.c.account_id == account)
        .order_by(balance_ledger.c.id)
    )
    async with store.engine.connect() as conn:
        return [(row.delta, row.reason, row.message_id) for row in await conn.execute(query)]


async def test_a_queued_message_is_cancelled_refunded_and_announced(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    message_id = await accept_one(
        message_store, account, now, segments=3, credits=6, callback_url="https://c"
    )
    assert await balance(store, account) == 4
    later = now + timedelta(seconds=5)

    outcome = await message_store.cancel_message(account, message_id, later)

    assert outcome == Cancellation(
        MessageStatus.CANCELLED,
        cancelled=True,
        refunded=6,
        changes=(StatusChange(message_id, account, MessageStatus.CANCELLED, later),),
    )
    assert await part_statuses(store, message_id) == ["cancelled"] * 3
    assert await balance(store, account) == 10
    assert (await _ledger(store, account))[-1] == (6, REFUND_REASON, message_id)
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert view.status is MessageStatus.CANCELLED
    assert [(status, at) for status, _, at in view.events][-1] == ("cancelled", later)
    assert [c["status"] for c in await callbacks(store, message_id)] == ["cancelled"]
    # Nothing is left to send.
    assert await message_store.claim_parts(CHANNEL, 10, "gw", later, later + LEASE) == []


async def test_a_scheduled_message_is_cancelled_and_never_claimed(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    at = now + timedelta(hours=1)
    message_id = await accept_one(message_store, account, now, segments=2, send_at=at)

    outcome = await message_store.cancel_message(account, message_id, now)

    assert outcome is not None
    assert (outcome.status, outcome.cancelled, outcome.refunded) == (
        MessageStatus.CANCELLED,
        True,
        2,
    )
    assert await message_store.claim_parts(CHANNEL, 10, "gw", at, at + LEASE) == []
    # No callback URL, on the message or the account: none is queued.
    assert await count(store, notifications) == 0


async def test_a_message_with_a_claimed_part_is_not_cancelled(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, segments=2)
    claimed = await message_store.claim_parts(CHANNEL, 1, "gw", now, now + LEASE)
    assert [(p.message_id, p.seqnum) for p in claimed] == [(message_id, 1)]

    outcome = await message_store.cancel_message(account, message_id, now)

    # Its first part is on its way: the second must follow, or the text arrives cut.
    assert outcome == Cancellation(MessageStatus.QUEUED, cancelled=False)
    assert await part_statuses(store, message_id) == ["submitting", "queued"]
    assert await balance(store, account) == 8


async def test_final_and_submitted_messages_are_not_cancelled(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    sent_id, _ = await in_transit(message_store, account, now, ["smsc-1"])
    queued_id = await accept_one(message_store, account, now, callback_url="https://c")
    first = await message_store.cancel_message(account, queued_id, now)
    assert first is not None
    assert first.cancelled

    assert await message_store.cancel_message(account, sent_id, now) == Cancellation(
        MessageStatus.IN_TRANSIT, cancelled=False
    )
    # Cancelled is final: a second request changes nothing and refunds nothing again.
    assert await message_store.cancel_message(account, queued_id, now) == Cancellation(
        MessageStatus.CANCELLED, cancelled=False
    )
    assert await balance(store, account) == 9
    assert [c["status"] for c in await callbacks(store, queued_id)] == ["cancelled"]


async def test_unknown_and_other_accounts_messages_are_not_found(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    other = await funded_account(store, 10)
    now = clock.now()
    message_id = await accept_one(message_store, account, now)

    assert await message_store.cancel_message(other, message_id, now) is None
    assert await message_store.cancel_message(account, message_id + 1000, now) is None
    assert await part_statuses(store, message_id) == ["queued"]
    assert await balance(store, other) == 10


async def test_a_claim_racing_cancellations_never_wins_with_them(
    database: Database, store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    """Another gateway claims while this one cancels the same messages: each message is either
    claimed (every part, the cancellation refused) or cancelled (no part claimed)."""
    account = await funded_account(store, 1000)
    now = clock.now()
    ids = [await accept_one(message_store, account, now, segments=2) for _ in range(30)]

    async def claim_all(other: SqlMessageStore) -> list[PartToSend]:
        # Whole messages (two parts) a few at a time, so claims and cancellations interleave.
        taken: list[PartToSend] = []
        while batch := await other.claim_parts(CHANNEL, 4, "gw-2", now, now + LEASE):
            taken += batch
        return taken

    claim = in_another_process(database, claim_all)

    async def claiming() -> bool:
        return claim.done() or (await part_statuses(store, ids[0]))[0] != "queued"

    async with asyncio.timeout(30):  # bounds a broken test only
        while not await claiming():  # noqa: ASYNC110 -- the rows change in another process
            await asyncio.sleep(0.001)
    # The claims go up from the oldest message while the cancellations come down from the
    # newest: they meet somewhere in the middle.
    outcomes = [await message_store.cancel_message(account, i, now) for i in reversed(ids)]
    outcomes.reverse()
    claimed, _ = await claim
    assert isinstance(claimed, list), claimed

    claimed_ids = {p.message_id for p in claimed}
    for message_id, outcome in zip(ids, outcomes, strict=True):
        assert outcome is not None
        statuses = await part_statuses(store, message_id)
        if outcome.cancelled:
            assert message_id not in claimed_ids
            assert statuses == ["cancelled", "cancelled"]
        else:
            assert message_id in claimed_ids
            assert statuses == ["submitting", "submitting"]
    cancelled = sum(o is not None and o.cancelled for o in outcomes)
    assert await balance(store, account) == 1000 - 2 * 30 + 2 * cancelled


async def test_a_claim_during_an_open_cancellation_takes_nothing(
    database: Database, store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, segments=2)
    holder = database.engine()
    try:
        async with holder.connect() as conn:
            await conn.execution_options(**WRITE)
            transaction = await conn.begin()
            outcome = await cancel_message(conn, account, message_id, now)
            assert outcome is not None
            assert outcome.cancelled
            claim = in_another_process(
                database, lambda other: other.claim_parts(CHANNEL, 10, "gw-2", now, now + LEASE)
            )
            # PostgreSQL skips the locked parts at once; SQLite waits for the write lock.
            await asyncio.sleep(0.2)
            await transaction.commit()
            claimed, _ = await claim
    finally:
        await holder.dispose()
    assert claimed == []
    assert await part_statuses(store, message_id) == ["cancelled", "cancelled"]
