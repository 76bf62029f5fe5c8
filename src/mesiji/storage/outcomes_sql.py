"""What follows when parts change: their rows, refunds, and their messages' status.

Nothing here decides: :func:`advance` asks the life-cycle table
(:mod:`mesiji.domain.lifecycle`) what an event does to a part and applies its effects to the
part's state; :func:`settle_messages` asks it what the parts' new tally means for each touched
message. Claims (expiry), submit results, receipts and cancellations all end the same way:
write the parts' new state, settle each touched message and, where its status changed, store
it with a history event and a callback (the outbox), then give back the credits of the parts
the table said to refund, all in the caller's transaction.

On PostgreSQL, locks are taken in one order everywhere: SMSC ids
(:func:`mesiji.storage.receipts_sql.lock_message_ids`), then parts, messages and accounts,
each by ascending id. Concurrent transactions then wait for each other instead of
deadlocking. Callers should call :func:`settle_messages` before :func:`refund`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mesiji.domain.lifecycle import MessageEffect, MessageState, message_error_code, settle
from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.storage import dialects
from mesiji.storage.message_ports import StatusChange
from mesiji.storage.notifications_sql import StatusCallback, enqueue_status_callbacks
from mesiji.storage.part_states import PartState, advance, part_credits
from mesiji.storage.schema import accounts, balance_ledger, message_events, messages, parts

__all__ = [
    "REFUND_REASON",
    "PartState",
    "advance",
    "part_credits",
    "refund",
    "settle_messages",
    "write_parts",
]

#: The ledger reason of credits given back for parts that were never sent.
REFUND_REASON = "refund"


async def write_parts(conn: AsyncConnection, states: Sequence[PartState]) -> None:
    """Store the parts' new state and release their leases."""
    if not states:
        return
    await conn.execute(
        update(parts).where(parts.c.id == bindparam("part_id")),
        [
            {
                "part_id": s.id,
                "status": s.status.value,
                "smsc_message_id": s.smsc_message_id,
                "submitted_at": s.submitted_at,
                "done_at": s.done_at,
                "error_code": s.error_code,
                "lease_owner": None,
                "lease_until": None,
            }
            for s in sorted(states, key=lambda s: s.id)
        ],
    )


async def refund(conn: AsyncConnection, states: Sequence[PartState], now: datetime) -> None:
    """Give back the credits of the parts the table said to refund (:attr:`PartState.refunded`,
    parts that were never sent): one ledger row per message."""
    per_message: dict[tuple[int, int], int] = defaultdict(int)
    for state in states:
        if not state.refunded:
            continue
        per_message[state.account_id, state.message_id] += state.credits
    per_account: dict[int, int] = defaultdict(int)
    for (account_id, _), credits in per_message.items():
        per_account[account_id] += credits
    paid = sorted((a, c) for a, c in per_account.items() if c > 0)
    if not paid:
        return
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("account_id_"))
        .values(balance=accounts.c.balance + bindparam("credits_")),
        [{"account_id_": a, "credits_": c} for a, c in paid],
    )
    await conn.execute(
        balance_ledger.insert(),
        [
            {
                "account_id": account_id,
                "delta": credits,
                "reason": REFUND_REASON,
                "message_id": message_id,
                "at": now,
            }
            for (account_id, message_id), credits in sorted(per_message.items())
            if credits > 0
        ],
    )


async def settle_messages(
    conn: AsyncConnection, message_ids: Collection[int], now: datetime
) -> list[StatusChange]:
    """Settle the messages on the tally of their parts (:func:`mesiji.domain.lifecycle.settle`);
    store and announce the changes.

    A changed message gets its new status and error code, a history event, and a callback
    when it or its account has a callback URL (the message's own URL wins).
    """
    if not message_ids:
        return []
    ids = sorted(set(message_ids))
    # Lock the messages before reading their parts: two transactions finishing different parts
    # of one message would otherwise each see the other's part unfinished, and neither would
    # mark the message delivered.
    query = (
        select(
            messages.c.id,
            messages.c.account_id,
            messages.c.reference,
            messages.c.destination,
            messages.c.segments,
            messages.c.status,
            messages.c.error_code,
            messages.c.send_at,
            messages.c.created_at,
            messages.c.operator,
            messages.c.callback_url.label("own_url"),
            accounts.c.callback_url.label("account_url"),
        )
        .join_from(messages, accounts, messages.c.account_id == accounts.c.id)
        .where(dialects.one_of(conn.dialect.name, messages.c.id, ids))
        .order_by(messages.c.id)
        .with_for_update(of=messages, key_share=True)
    )
    message_rows = (await conn.execute(query)).all()
    part_query = (
        select(parts.c.message_id, parts.c.status, parts.c.error_code)
        .where(dialects.one_of(conn.dialect.name, parts.c.message_id, ids))
        .order_by(parts.c.message_id, parts.c.seqnum)
    )
    part_rows: dict[int, list[tuple[PartStatus, str | None]]] = defaultdict(list)
    for row in await conn.execute(part_query):
        part_rows[row.message_id].append((PartStatus(row.status), row.error_code))

    changes: list[StatusChange] = []
    updates: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    callbacks: list[StatusCallback] = []
    for message in message_rows:
        statuses = part_rows[message.id]
        scheduled = message.send_at is not None and message.send_at > now
        settled = settle(
            MessageStatus(message.status),
            MessageState.of(s for s, _ in statuses),
            scheduled=scheduled,
        )
        status = settled.status
        error_code = message_error_code(status, statuses)
        if not settled.effects and error_code == message.error_code:
            continue
        updates.append(
            {"message_id_": message.id, "status": status.value, "error_code": error_code}
        )
        if MessageEffect.RECORD not in settled.effects:
            continue
        changes.append(StatusChange(message.id, message.account_id, status, now))
        events.append(
            {"message_id": message.id, "status": status.value, "reason": error_code, "at": now}
        )
        # A message's own callback_url gets Mesiji's JSON; without one, the account's
        # callback_url gets smsoffice.ge's GET form, which its existing clients expect.
        url = message.own_url or message.account_url
        if url is not None and MessageEffect.QUEUE_CALLBACK in settled.effects:
            callbacks.append(
                StatusCallback(
                    url=url,
                    smsoffice_form=message.own_url is None,
                    operator=message.operator,
                    message_id=message.id,
                    account_id=message.account_id,
                    reference=message.reference,
                    destination=message.destination,
                    status=status,
                    error_code=error_code,
                    segments=message.segments,
                    created_at=message.created_at,
                    updated_at=now,
                )
            )
    if updates:
        await conn.execute(
            update(messages)
            .where(messages.c.id == bindparam("message_id_"))
            .values(updated_at=now),
            updates,
        )
    if events:
        await conn.execute(message_events.insert(), events)
    await enqueue_status_callbacks(conn, callbacks, now)
    return changes
