"""The message pipeline's storage on SQL: :class:`SqlMessageStore`, for SQLite and PostgreSQL.

Every public method is one transaction (see :mod:`mesiji.storage.message_ports`). Writers open
it with ``BEGIN IMMEDIATE`` on SQLite, whose single writer makes each one exclusive; on
PostgreSQL concurrent gateways share the queues through ``FOR UPDATE SKIP LOCKED`` and wait
for each other on the rows they both change. Receipts, the callback outbox and what follows a
part's change live in :mod:`~mesiji.storage.receipts_sql`,
:mod:`~mesiji.storage.notifications_sql` and :mod:`~mesiji.storage.outcomes_sql`; accepting
(and the idempotency keys) in :mod:`~mesiji.storage.accept_sql`.

Money: accepting reserves every credit of the request. Credits come back only for parts that
were never sent: refused by the SMSC or failed at submit, or expired in the queue. A part the
SMSC took and then could not deliver was paid for.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Row, Select, literal, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesiji.domain.lifecycle import Event, states_for, step, submit_event
from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.smpp.receipts import canonical_message_id, message_id_keys
from mesiji.storage import cancel_sql, dialects, transactions
from mesiji.storage import notifications_sql as outbox
from mesiji.storage.accept_sql import (
    accept_batch,
    accept_group,
    check_batch,
    lost_key_race,
)
from mesiji.storage.errors import Conflict, InsufficientBalance, StorageError
from mesiji.storage.message_ports import (
    AcceptBatch,
    Accepted,
    AcceptOutcome,
    CallbackView,
    Cancellation,
    CursorError,
    GivenUp,
    IncomingReceipt,
    MessageQuery,
    MessageView,
    Notification,
    NotificationAttempt,
    PartToSend,
    StatusChange,
    SubmitResult,
)
from mesiji.storage.outcomes_sql import PartState, advance, refund, settle_messages, write_parts
from mesiji.storage.receipts_sql import (
    apply_receipts,
    apply_waiting_receipts,
    give_up_waiting,
    lock_message_ids,
    retire_reused_ids,
)
from mesiji.storage.schema import message_events, messages, notifications, parts
from mesiji.storage.types import UtcDateTime

__all__ = ["MAX_PAGE", "SqlMessageStore", "decode_cursor", "encode_cursor"]

#: The most messages one page of :meth:`SqlMessageStore.list_messages` holds.
MAX_PAGE = 1000
#: A message id in a cursor: what a BIGINT holds, in ASCII digits.
_CURSOR_ID = re.compile(r"[0-9]{1,19}")
_MAX_ID = 2**63 - 1


class SqlMessageStore:
    """:class:`~mesiji.storage.message_ports.MessageStore` on an :class:`AsyncEngine`.

    The engine stays the caller's (usually shared with :class:`mesiji.storage.SqlStore`,
    whose :func:`~mesiji.storage.open_store` migrates the schema).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        """The engine the store runs on."""
        return self._engine

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transactions.reading(self._engine)

    def _writing(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transactions.writing(self._engine)

    # -- accepting --------------------------------------------------------------------------

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        """Reserve the credits and store the messages with their parts, in one transaction.

        A request whose idempotency key the account used before returns the ids of that first
        request with ``replayed`` set, and writes nothing; if the fingerprint or the number of
        messages differs it raises :class:`Conflict`. A balance that does not cover every
        message raises :class:`InsufficientBalance` and nothing is written.
        """
        check_batch(batch)
        try:
            return await self._accept(batch, now)
        except Conflict as exc:
            if not lost_key_race(batch, exc):
                raise
        # A concurrent request with the same key committed first; now it is found and replayed.
        return await self._accept(batch, now)

    async def _accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        async with self._writing() as conn:
            return await accept_batch(conn, batch, now)

    async def accept_many(
        self, batches: Sequence[AcceptBatch], now: datetime
    ) -> list[AcceptOutcome]:
        """Accept several requests in one transaction: one commit (one fsync) for all of them.

        Each request is applied as :meth:`accept` would (see
        :func:`~mesiji.storage.accept_sql.accept_group`): one refused for its balance, its
        idempotency key or its account is rolled back alone and gets its error in its slot (a
        malformed one its ValueError), the others commit. Requests run grouped by account (in
        the order given within an account), so later ones see the balance earlier ones left and
        two gateways' groups take the account rows in the same order (PostgreSQL: no deadlock
        between them). A failure of the transaction (StorageUnavailable) is raised: none of the
        requests was stored.
        """
        outcomes: dict[int, AcceptOutcome] = {}
        pending: list[int] = []
        for i, batch in enumerate(batches):
            try:
                check_batch(batch)
            except ValueError as exc:
                outcomes[i] = exc
            else:
                pending.append(i)
        pending.sort(key=lambda i: batches[i].account_id)
        if pending:
            async with self._writing() as conn:
                applied = await accept_group(conn, [batches[i] for i in pending], now)
            outcomes.update(zip(pending, applied, strict=True))
        for i in pending:
            if lost_key_race(batches[i], outcomes[i]):
                # As in accept: a concurrent request with the key committed first; replay it.
                try:
                    outcomes[i] = await self._accept(batches[i], now)
                except (StorageError, InsufficientBalance) as exc:
                    outcomes[i] = exc
        return [outcomes[i] for i in range(len(batches))]

    # -- dispatching ------------------------------------------------------------------------

    async def claim_parts(
        self, channel: str, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[PartToSend]:
        """Claim up to ``limit`` parts of ``channel`` for ``owner`` until ``lease_until``.

        Parts whose lease ran out (their dispatcher died) come first, then queued parts in
        the order they were accepted; parts of messages scheduled after ``now`` wait. A part
        past its message's validity is not sent: it expires and its credits are refunded.
        A scheduled message becomes queued when its first part is claimed.
        """
        if limit <= 0:
            return []
        claimed: list[Row[Any]] = []
        expired: list[PartState] = []
        async with self._writing() as conn:
            while True:
                rows = await _claimable(conn, channel, limit, now)
                taken = [r for r in rows if not _past_validity(r, now)][: limit - len(claimed)]
                gone = [_state(r) for r in rows if _past_validity(r, now)]
                for state in gone:
                    advance(state, Event.EXPIRED_IN_QUEUE, now)
                if taken:
                    await conn.execute(
                        update(parts)
                        .where(
                            dialects.one_of(conn.dialect.name, parts.c.id, [r.id for r in taken])
                        )
                        .values(
                            status=_claimed_status(taken),
                            lease_owner=owner,
                            lease_until=lease_until,
                            attempts=parts.c.attempts + 1,
                        )
                    )
                await write_parts(conn, gone)
                claimed += taken
                expired += gone
                # Expired parts took places in this round: look again for parts to send.
                if len(claimed) >= limit or len(rows) < limit or not gone:
                    break
            starting = {r.message_id for r in claimed if r.message_status == "scheduled"}
            await settle_messages(conn, starting | {s.message_id for s in expired}, now)
            await refund(conn, expired, now)
        return [
            PartToSend(
                part_id=r.id,
                message_id=r.message_id,
                account_id=r.account_id,
                seqnum=r.seqnum,
                total=r.total,
                sender=r.sender,
                destination=r.destination,
                body=r.body,
                alphabet=r.alphabet,
                concat_reference=r.message_id % 256,
                valid_until=r.valid_until,
                attempts=r.attempts + 1,
            )
            for r in claimed
        ]

    async def record_submissions(
        self, results: Sequence[SubmitResult], now: datetime
    ) -> list[StatusChange]:
        """Store submit outcomes; apply receipts that were waiting for these message ids.

        Only parts still ``submitting`` change: a late result for a part that has moved on
        is ignored. A refused or failed part is final and its credits are refunded; a result
        with status ``queued`` (a transient refusal) puts the part back in the queue; one with
        status ``unknown`` (taken by the SMSC, but no receipt can be matched) is final and
        paid for. A part still waiting for its receipt under an SMSC id given here to another
        part ends ``unknown`` (see :func:`~mesiji.storage.receipts_sql.retire_reused_ids`).
        """
        outcome: dict[int, tuple[SubmitResult, Event]] = {}
        for result in results:
            outcome.setdefault(result.part_id, (result, _outcome(result)))
        if not outcome:
            return []
        smsc_ids = [r.smsc_message_id for r, _ in outcome.values() if r.smsc_message_id]
        # Only parts an outcome moves (those out for submission): a late result is ignored.
        movable = sorted({s.value for _, event in outcome.values() for s in states_for(event)})
        async with self._writing() as conn:
            await lock_message_ids(
                conn, (key for i in smsc_ids for key in message_id_keys(canonical_message_id(i)))
            )
            query = (
                _part_columns()
                .where(
                    dialects.one_of(conn.dialect.name, parts.c.id, sorted(outcome)),
                    parts.c.status.in_(movable),
                )
                .order_by(parts.c.id)
                .with_for_update(of=parts, key_share=True)
            )
            states = [
                state
                for row in await conn.execute(query)
                if (state := _submitted(row, *outcome[row.id], now)) is not None
            ]
            sent = [s for s in states if s.smsc_message_id is not None]
            retired = await retire_reused_ids(conn, sent, now)
            sent = [s for s in sent if s.smsc_message_id is not None]
            await apply_waiting_receipts(conn, sent, now)
            await write_parts(conn, [*states, *retired])
            changes = await settle_messages(conn, {s.message_id for s in [*states, *retired]}, now)
            await refund(conn, states, now)
            return changes

    async def apply_receipts(
        self, receipts: Sequence[IncomingReceipt], now: datetime
    ) -> list[StatusChange]:
        """Match receipts to parts, or keep them until their submit_sm_resp is recorded.

        Intermediate receipts (status None) change nothing and are not kept; a receipt for a
        part already final changes nothing either, so a repeated one sends no second callback.
        """
        async with self._writing() as conn:
            return await apply_receipts(conn, receipts, now)

    # -- cancelling -------------------------------------------------------------------------

    async def cancel_message(
        self, account_id: int, message_id: int, now: datetime
    ) -> Cancellation | None:
        """Cancel the account's message if no part of it was claimed yet; None when the
        account has no such message (see :mod:`mesiji.storage.cancel_sql`)."""
        try:
            async with self._writing() as conn:
                return await cancel_sql.cancel_message(conn, account_id, message_id, now)
        except cancel_sql.LostRace:
            # Rolled back: a part moved on under the guard, so it is no longer cancellable.
            async with self._reading() as conn:
                status = await cancel_sql.message_status(conn, account_id, message_id)
            return None if status is None else Cancellation(status, cancelled=False)

    async def give_up_waiting(
        self, submitted_before: datetime, now: datetime, limit: int
    ) -> GivenUp:
        """End ``unknown`` up to ``limit`` parts submitted before ``submitted_before`` that
        still wait for a receipt, their message's validity over (see
        :func:`~mesiji.storage.receipts_sql.give_up_waiting`); settle their messages.
        """
        if limit <= 0:
            return GivenUp(0, [])
        async with self._writing() as conn:
            states = await give_up_waiting(conn, submitted_before, now, limit)
            await write_parts(conn, states)
            changes = await settle_messages(conn, {s.message_id for s in states}, now)
        return GivenUp(len(states), changes)

    # -- reading ----------------------------------------------------------------------------

    async def get_message(self, account_id: int, message_id: int) -> MessageView | None:
        """The account's message with its history and callbacks, or None."""
        if not 0 < message_id <= _MAX_ID:
            return None
        query = select(messages).where(
            messages.c.id == message_id, messages.c.account_id == account_id
        )
        async with self._reading() as conn:
            row = (await conn.execute(query)).one_or_none()
            if row is None:
                return None
            return (await _with_history(conn, [row]))[0]

    async def list_messages(
        self, account_id: int, query: MessageQuery
    ) -> tuple[list[MessageView], str | None]:
        """A page of the account's messages, newest first, and the next page's cursor or None.

        ``since`` is inclusive and ``until`` exclusive, on the creation time; ``limit`` is
        capped at :data:`MAX_PAGE`. Each message comes with its events and callbacks (unless
        ``with_history`` is false), read for the whole page at once: two queries, however long
        the page. A cursor that is not one
        this method returned raises :class:`CursorError`.
        """
        limit = max(1, min(query.limit, MAX_PAGE))
        conditions = [messages.c.account_id == account_id]
        if query.status is not None:
            conditions.append(messages.c.status == MessageStatus(query.status).value)
        if query.reference is not None:
            conditions.append(messages.c.reference == query.reference)
        if query.destination is not None:
            conditions.append(messages.c.destination == query.destination)
        if query.since is not None:
            conditions.append(messages.c.created_at >= query.since)
        if query.until is not None:
            conditions.append(messages.c.created_at < query.until)
        if query.cursor is not None:
            created_at, message_id = decode_cursor(query.cursor)
            # A row value, so both engines can start the index scan at the cursor.
            conditions.append(
                tuple_(messages.c.created_at, messages.c.id)
                < tuple_(literal(created_at, UtcDateTime), literal(message_id, BigInteger))
            )
        statement = (
            select(messages)
            .where(*conditions)
            .order_by(messages.c.created_at.desc(), messages.c.id.desc())
            .limit(limit + 1)
        )
        async with self._reading() as conn:
            rows = (await conn.execute(statement)).all()
            if query.with_history:
                page = await _with_history(conn, rows[:limit])
            else:
                page = [_view(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return page, None
        return page, encode_cursor(page[-1].created_at, page[-1].id)

    # -- callbacks --------------------------------------------------------------------------

    async def claim_notifications(
        self, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[Notification]:
        """Take up to ``limit`` due callbacks until ``lease_until``, oldest due first.

        ``owner`` is not stored: the lease is the next attempt time itself (see
        :func:`mesiji.storage.notifications_sql.claim_notifications`).
        """
        if limit <= 0:
            return []
        async with self._writing() as conn:
            return await outbox.claim_notifications(conn, limit, now, lease_until)

    async def record_notification_attempts(
        self, attempts: Sequence[NotificationAttempt], now: datetime
    ) -> None:
        """Count each attempt, in one transaction (see
        :func:`mesiji.storage.notifications_sql.record_notification_attempts`).

        A notification no longer pending is left as it is; unknown ids are ignored.
        """
        if not attempts:
            return
        async with self._writing() as conn:
            await outbox.record_notification_attempts(conn, attempts, now)


def _part_columns() -> Select[Any]:
    return select(
        parts.c.id,
        parts.c.message_id,
        parts.c.channel,
        parts.c.seqnum,
        parts.c.total,
        parts.c.attempts,
        parts.c.status,
        messages.c.account_id,
        messages.c.credits,
        messages.c.status.label("message_status"),
        messages.c.sender,
        messages.c.destination,
        messages.c.body,
        messages.c.alphabet,
        messages.c.valid_until,
    ).join_from(parts, messages, parts.c.message_id == messages.c.id)


async def _claimable(
    conn: AsyncConnection, channel: str, limit: int, now: datetime
) -> list[Row[Any]]:
    """Up to ``limit`` parts of ``channel`` to send now, locked; those other claimers skip."""
    base = (
        _part_columns()
        .where(parts.c.channel == channel)
        .order_by(parts.c.id)
        .with_for_update(of=parts, skip_locked=True, key_share=True)
    )
    stale = base.where(
        parts.c.status == PartStatus.SUBMITTING.value, parts.c.lease_until < now
    ).limit(limit)
    rows = list((await conn.execute(stale)).all())
    if len(rows) < limit:
        due = base.where(
            parts.c.status == PartStatus.QUEUED.value,
            or_(messages.c.send_at.is_(None), messages.c.send_at <= now),
        ).limit(limit - len(rows))
        rows += (await conn.execute(due)).all()
    return rows


def _past_validity(row: Row[Any], now: datetime) -> bool:
    return row.valid_until is not None and row.valid_until <= now


def _state(row: Row[Any]) -> PartState:
    return PartState(
        id=row.id,
        message_id=row.message_id,
        account_id=row.account_id,
        channel=row.channel,
        seqnum=row.seqnum,
        total=row.total,
        message_credits=row.credits,
        status=PartStatus(row.status),
    )


def _claimed_status(rows: Sequence[Row[Any]]) -> str:
    """The status the table gives the claimed parts (queued, or taken over after a lease)."""
    moves = {step(PartStatus(r.status), Event.CLAIMED) for r in rows}
    (move,) = moves
    if move is None:
        raise ValueError("claimed a part the life cycle does not let a dispatcher take")
    return move.status.value


def _outcome(result: SubmitResult) -> Event:
    """The event of a submit result; ValueError for a result that is none."""
    try:
        return submit_event(result.smsc_message_id, result.status)
    except ValueError as exc:
        raise ValueError(f"part {result.part_id}: {exc}") from None


def _submitted(
    row: Row[Any], result: SubmitResult, event: Event, now: datetime
) -> PartState | None:
    state = _state(row)
    smsc_id = result.smsc_message_id
    moved = advance(
        state,
        event,
        now,
        error_code=result.error_code,
        smsc_message_id=None if smsc_id is None else canonical_message_id(smsc_id),
    )
    return None if moved is None else state


def _view(row: Row[Any]) -> MessageView:
    return MessageView(
        id=row.id,
        account_id=row.account_id,
        reference=row.reference,
        sender=row.sender,
        destination=row.destination,
        operator=row.operator,
        channel=row.channel,
        body=row.body,
        segments=row.segments,
        credits=row.credits,
        status=MessageStatus(row.status),
        error_code=row.error_code,
        urgent=bool(row.urgent),
        callback_url=row.callback_url,
        send_at=row.send_at,
        valid_until=row.valid_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _with_history(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[MessageView]:
    """Views of ``rows`` with their events and callbacks: one query each for all the rows."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    events = (
        select(
            message_events.c.message_id,
            message_events.c.status,
            message_events.c.reason,
            message_events.c.at,
        )
        .where(dialects.one_of(conn.dialect.name, message_events.c.message_id, ids))
        .order_by(message_events.c.message_id, message_events.c.id)
    )
    callbacks = (
        select(
            notifications.c.message_id,
            notifications.c.attempts,
            notifications.c.status,
            notifications.c.last_status_code,
            notifications.c.last_error,
            notifications.c.url,
            notifications.c.payload,
        )
        .where(dialects.one_of(conn.dialect.name, notifications.c.message_id, ids))
        .order_by(notifications.c.message_id, notifications.c.id)
    )
    history: defaultdict[int, list[tuple[str, str | None, datetime]]] = defaultdict(list)
    for e in await conn.execute(events):
        history[e.message_id].append((e.status, e.reason, e.at))
    calls: defaultdict[int, list[CallbackView]] = defaultdict(list)
    for c in await conn.execute(callbacks):
        calls[c.message_id].append(
            CallbackView(
                attempts=c.attempts,
                status=c.status,
                last_status_code=c.last_status_code,
                last_error=c.last_error,
                message_status=outbox.payload_status(c.payload),
                url=c.url,
            )
        )
    return [
        replace(_view(row), events=tuple(history[row.id]), callbacks=tuple(calls[row.id]))
        for row in rows
    ]


def encode_cursor(created_at: datetime, message_id: int) -> str:
    text = f"{created_at.isoformat()}|{message_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(created_at in UTC, message id) of a cursor :meth:`SqlMessageStore.list_messages` made.

    Anything else raises :class:`CursorError`: not base64, not UTF-8, no offset, a time off
    the calendar in UTC, an id that is not ASCII digits or does not fit a BIGINT.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, message_id = text.partition("|")
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None or created_at.utcoffset() is None:
            raise ValueError("naive")
        if not _CURSOR_ID.fullmatch(message_id) or int(message_id) > _MAX_ID:
            raise ValueError("not an id")
        return created_at.astimezone(UTC), int(message_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise CursorError("not a cursor of this listing") from exc
