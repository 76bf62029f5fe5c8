"""Cancelling a message that no dispatcher has claimed yet, on SQL.

The life-cycle table decides (:mod:`mesiji.domain.lifecycle`: which part states a
cancellation moves, to what, and that their credits come back); this module only applies it,
in the caller's transaction, and so that a dispatcher's claim and a cancellation never both
win:

- the message's parts are locked first (PostgreSQL: ``FOR NO KEY UPDATE``, in id order, the
  lock order of :mod:`mesiji.storage.outcomes_sql`). A claim holding them makes this wait and
  then read the claimed status; a claim coming later skips them (``SKIP LOCKED``) and, once
  this commits, no longer finds them queued. On SQLite the writer's ``BEGIN IMMEDIATE``
  already makes the two one after the other;
- the update is guarded by the part states the table lets ``cancelled`` move, and must
  change every part: otherwise the transaction is rolled back (:class:`LostRace`).

What follows is what follows any status change (:func:`~mesiji.storage.outcomes_sql.
settle_messages`): the message's derived status, a history event, a callback, then the
refund of the credits in the balance ledger.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mesiji.domain.lifecycle import Event, states_for
from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.storage.message_ports import Cancellation
from mesiji.storage.outcomes_sql import PartState, advance, refund, settle_messages
from mesiji.storage.schema import messages, parts

__all__ = ["LostRace", "cancel_message", "message_status"]


class LostRace(Exception):  # noqa: N818 -- it says what happened, as Conflict does
    """A part changed between its lock and its update; the caller rolls back."""


async def cancel_message(
    conn: AsyncConnection, account_id: int, message_id: int, now: datetime
) -> Cancellation | None:
    """Cancel the account's message if the domain allows it; None when there is no such
    message. Raises :class:`LostRace` when a part escaped the guard (roll back then)."""
    query = (
        select(
            parts.c.id,
            parts.c.channel,
            parts.c.seqnum,
            parts.c.total,
            parts.c.status,
            messages.c.credits,
            messages.c.status.label("message_status"),
        )
        .join_from(parts, messages, parts.c.message_id == messages.c.id)
        .where(parts.c.message_id == message_id, messages.c.account_id == account_id)
        .order_by(parts.c.id)
        .with_for_update(of=parts, key_share=True)
    )
    rows = (await conn.execute(query)).all()
    if not rows:
        status = await message_status(conn, account_id, message_id)
        return None if status is None else Cancellation(status, cancelled=False)
    states = [
        PartState(
            id=r.id,
            message_id=message_id,
            account_id=account_id,
            channel=r.channel,
            seqnum=r.seqnum,
            total=r.total,
            message_credits=r.credits,
            status=PartStatus(r.status),
        )
        for r in rows
    ]
    # Whole or not at all: once one part was claimed or reached the SMSC, the others would
    # arrive as a fragment of a text the recipient could not read.
    moves = [advance(state, Event.CANCELLED, now) for state in states]
    if any(move is None for move in moves):
        return Cancellation(MessageStatus(rows[0].message_status), cancelled=False)
    (ended,) = {state.status for state in states}  # one guarded UPDATE writes them all
    guard = sorted(s.value for s in states_for(Event.CANCELLED))
    result = await conn.execute(
        update(parts)
        .where(parts.c.message_id == message_id, parts.c.status.in_(guard))
        .values(status=ended.value, done_at=now, lease_owner=None, lease_until=None)
    )
    if result.rowcount != len(rows):
        raise LostRace(f"message {message_id}: {result.rowcount} of {len(rows)} parts cancelled")
    changes = await settle_messages(conn, [message_id], now)
    await refund(conn, states, now)
    return Cancellation(
        MessageStatus.CANCELLED,
        cancelled=True,
        refunded=sum(s.credits for s in states if s.refunded),
        changes=tuple(changes),
    )


async def message_status(
    conn: AsyncConnection, account_id: int, message_id: int
) -> MessageStatus | None:
    """The account's message's status, or None when it has no such message."""
    query = select(messages.c.status).where(
        messages.c.id == message_id, messages.c.account_id == account_id
    )
    status = (await conn.execute(query)).scalar_one_or_none()
    return None if status is None else MessageStatus(status)
