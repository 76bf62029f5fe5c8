"""Delivery receipts on SQL: match them to parts, or keep them until their part is known.

A receipt names its part by the SMSC's message id, which the SMSC may print differently in the
receipt and in the submit_sm_resp (:func:`mesiji.smpp.receipts.message_id_keys`). A part
stores the canonical form of its id; a receipt is looked up by each of its keys, on its own
channel only (ids of different SMSCs collide), first key preferred.

A receipt can beat the submit_sm_resp of its part. It then waits in ``receipts``, under its
canonical key, until :func:`apply_waiting_receipts` meets the part. Only final receipts are
kept: an intermediate one (enroute, accepted) would change nothing.

SMSCs reuse ids. A receipt goes to the most recent submission under its id; a part still
waiting for its receipt when the SMSC gives its id to a newer part can no longer be told
apart from it, and ends ``unknown`` (:func:`retire_reused_ids`). A part whose receipt never
comes ends ``unknown`` too, after the configured wait (:func:`give_up_waiting`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mesiji.domain.lifecycle import NO_RECEIPT, REUSED_ID, Event, receipt_event, states_for
from mesiji.domain.statuses import PartStatus, is_final
from mesiji.smpp.receipts import message_id_keys
from mesiji.storage import dialects
from mesiji.storage.message_ports import IncomingReceipt, StatusChange
from mesiji.storage.outcomes_sql import PartState, advance, settle_messages, write_parts
from mesiji.storage.schema import messages, parts, receipts

__all__ = [
    "NO_RECEIPT",
    "REUSED_ID",
    "apply_receipts",
    "apply_waiting_receipts",
    "give_up_waiting",
    "lock_message_ids",
    "receive",
    "retire_reused_ids",
    "warn_reused",
]

log = logging.getLogger(__name__)

# The parts each sweep may move, as the life-cycle table says.
_REUSABLE = sorted(s.value for s in states_for(Event.ID_REUSED))
_AWAITING = sorted(s.value for s in states_for(Event.RECEIPT_WAIT_OVER))


async def lock_message_ids(conn: AsyncConnection, message_ids: Iterable[str]) -> None:
    """Make transactions about the same SMSC message ids take turns (on PostgreSQL).

    A receipt and its part's submit result committed at the same moment by two transactions
    would each miss the other: the receipt finds no part with its id and waits, the submit
    result finds no receipt waiting, and the part stays in transit for good. Both therefore
    lock every key of their ids first, before any row: a receipt's keys include its part's
    canonical id, so the two share a lock. Keys are locked in one order, so no two
    transactions wait for each other in a circle. SQLite's writers take turns anyway.
    """
    if conn.dialect.name != "postgresql":
        return
    locks = sorted({_lock_number(key) for key in message_ids})
    if locks:
        # unnest yields the array in order, so the locks are taken in ascending order.
        statement = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:locks AS bigint[])) k")
        await conn.execute(statement, {"locks": locks})


def _lock_number(key: str) -> int:
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"mesiji-smsc-id").digest()
    return int.from_bytes(digest, "big", signed=True)


def receive(state: PartState, status: PartStatus, error_code: str | None, now: datetime) -> bool:
    """Apply a receipt's status to a part as the life-cycle table says; False when it changes
    nothing (a repeated or late receipt; see :mod:`mesiji.domain.lifecycle`)."""
    return advance(state, receipt_event(status), now, error_code=error_code) is not None


async def apply_receipts(
    conn: AsyncConnection, incoming: Sequence[IncomingReceipt], now: datetime
) -> list[StatusChange]:
    """Apply the receipts to their parts, keep those whose part is unknown; the changes."""
    final = [
        (r, r.status)
        for r in incoming
        if r.status is not None and is_final(r.status) and r.message_id_keys
    ]
    if not final:
        return []
    await lock_message_ids(conn, (key for receipt, _ in final for key in receipt.message_id_keys))
    keys: dict[str, set[str]] = defaultdict(set)
    for receipt, _ in final:
        keys[receipt.channel].update(receipt.message_id_keys)
    query = (
        _part_states()
        .where(_any_key(conn, parts.c.channel, parts.c.smsc_message_id, keys))
        .order_by(parts.c.id)
        .with_for_update(of=parts, key_share=True)
    )
    # SMSCs reuse ids over time: the most recent submission with an id is the one a receipt
    # is about (the part id breaks a tie of the same second).
    by_key: dict[tuple[str, str], PartState] = {}
    for row in sorted(await conn.execute(query), key=_submission_order):
        by_key[row.channel, row.smsc_message_id] = _part_state(row)
    changed: dict[int, PartState] = {}
    unmatched: list[tuple[IncomingReceipt, PartStatus]] = []
    for receipt, status in final:
        state = next(
            (
                by_key[receipt.channel, key]
                for key in receipt.message_id_keys
                if (receipt.channel, key) in by_key
            ),
            None,
        )
        if state is None:
            unmatched.append((receipt, status))
        elif receive(state, status, receipt.error_code, now):
            changed[state.id] = state
    await write_parts(conn, list(changed.values()))
    await _keep_waiting(conn, unmatched, now)
    return await settle_messages(conn, {s.message_id for s in changed.values()}, now)


async def apply_waiting_receipts(
    conn: AsyncConnection, sent: Sequence[PartState], now: datetime
) -> None:
    """Apply waiting receipts to parts whose SMSC id just became known (states change in place).

    A receipt waiting under the part's literal id is preferred to one under another printing
    of it, which may belong to another message.
    """
    known = sorted(
        (s.id, s, s.channel, message_id_keys(s.smsc_message_id))
        for s in sent
        if s.channel is not None and s.smsc_message_id is not None
    )
    if not known:
        return
    keys: dict[str, set[str]] = defaultdict(set)
    for _, _, channel, candidates in known:
        keys[channel].update(candidates)
    query = (
        select(
            receipts.c.id,
            receipts.c.channel,
            receipts.c.smsc_message_id,
            receipts.c.state,
            receipts.c.err,
        )
        .where(
            receipts.c.matched_part_id.is_(None),
            _any_key(conn, receipts.c.channel, receipts.c.smsc_message_id, keys),
        )
        .order_by(receipts.c.id)
    )
    waiting = (await conn.execute(query)).all()
    if not waiting:
        return
    matched: dict[int, int] = {}
    for _, state, channel, candidates in known:
        mine = [
            r
            for r in waiting
            if r.id not in matched and r.channel == channel and r.smsc_message_id in candidates
        ]
        literal = [r for r in mine if r.smsc_message_id == candidates[0]]
        for row in literal or mine:
            matched[row.id] = state.id
            receive(state, PartStatus(row.state), row.err, now)
    if matched:
        await conn.execute(
            update(receipts).where(receipts.c.id == bindparam("receipt_id")),
            [{"receipt_id": r, "matched_part_id": p} for r, p in sorted(matched.items())],
        )


async def _keep_waiting(
    conn: AsyncConnection,
    unmatched: Sequence[tuple[IncomingReceipt, PartStatus]],
    now: datetime,
) -> None:
    """Store receipts of unknown parts under their canonical key, once each."""
    if not unmatched:
        return
    keys: dict[str, set[str]] = defaultdict(set)
    for receipt, _ in unmatched:
        keys[receipt.channel].add(receipt.message_id_keys[0])
    query = select(
        receipts.c.channel, receipts.c.smsc_message_id, receipts.c.state, receipts.c.err
    ).where(
        receipts.c.matched_part_id.is_(None),
        _any_key(conn, receipts.c.channel, receipts.c.smsc_message_id, keys),
    )
    seen = {tuple(row) for row in await conn.execute(query)}
    rows: list[dict[str, object]] = []
    for receipt, status in unmatched:
        identity = (
            receipt.channel,
            receipt.message_id_keys[0],
            status.value,
            receipt.error_code,
        )
        if identity in seen:
            continue
        seen.add(identity)
        rows.append(
            {
                "channel": receipt.channel,
                "smsc_message_id": receipt.message_id_keys[0],
                "state": status.value,
                "err": receipt.error_code,
                "raw": receipt.raw,
                "received_at": now,
            }
        )
    if rows:
        await conn.execute(receipts.insert(), rows)


async def retire_reused_ids(
    conn: AsyncConnection, sent: Sequence[PartState], now: datetime
) -> list[PartState]:
    """Give up the parts whose SMSC id ``sent`` now carries; the retired parts not in ``sent``.

    SMPP 3.4 §5.2.23 wants a message_id to name one message, yet SMSCs hand an id out again
    while its first message still waits for its receipt (a counter that wraps, a restart).
    No receipt can then say which of the two it is about: it goes to the newer submission,
    and the older part ends ``unknown`` with :data:`REUSED_ID`. Its SMSC id is cleared, so no
    receipt for the newer part reaches it, and the reuse is logged with both part ids. Among
    ``sent`` themselves, the highest part id counts as the newest; the older ones change in
    place. Call it after :func:`lock_message_ids` for the ids of ``sent``.
    """
    newest: dict[tuple[str, str], PartState] = {}
    for state in sorted(sent, key=lambda s: s.id):
        if state.channel is None or state.smsc_message_id is None:
            continue
        key = (state.channel, state.smsc_message_id)
        older = newest.get(key)
        if older is not None:
            _retire(older, state, now)
        newest[key] = state
    if not newest:
        return []
    keys: dict[str, set[str]] = defaultdict(set)
    for channel, smsc_id in newest:
        keys[channel].add(smsc_id)
    query = (
        _part_states()
        .where(
            _any_key(conn, parts.c.channel, parts.c.smsc_message_id, keys),
            parts.c.status.in_(_REUSABLE),
        )
        .order_by(parts.c.id)
        .with_for_update(of=parts, key_share=True)
    )
    mine = {s.id for s in sent}
    retired = []
    for row in await conn.execute(query):
        if row.id in mine:
            continue
        state = _part_state(row)
        if _retire(state, newest[row.channel, row.smsc_message_id], now):
            retired.append(state)
    return retired


def _retire(older: PartState, newer: PartState, now: datetime) -> bool:
    if advance(older, Event.ID_REUSED, now) is None:
        return False
    warn_reused(newer.channel, newer.smsc_message_id, newer=newer.id, older=older.id)
    return True


def warn_reused(channel: str | None, smsc_id: str | None, *, newer: int, older: int) -> None:
    """Log that the SMSC gave ``smsc_id`` to part ``newer`` while ``older`` still waited."""
    log.warning(
        "%s: the SMSC gave message id %s to part %d while part %d still waited for its "
        "receipt; part %d ends unknown, receipts for the id go to part %d",
        channel,
        smsc_id,
        newer,
        older,
        older,
        newer,
    )


async def give_up_waiting(
    conn: AsyncConnection, submitted_before: datetime, now: datetime, limit: int
) -> list[PartState]:
    """Up to ``limit`` parts that waited too long for their receipt, moved to ``unknown``.

    A part is given up when it was submitted before ``submitted_before`` and its message's
    validity (if it has one) is over: until then the SMSC may still deliver it. Parts another
    transaction holds are skipped (PostgreSQL), to be found by the next sweep; the caller
    writes the returned states and settles their messages.
    """
    query = (
        _part_states()
        .where(
            parts.c.status.in_(_AWAITING),
            parts.c.submitted_at < submitted_before,
            or_(messages.c.valid_until.is_(None), messages.c.valid_until <= now),
        )
        .order_by(parts.c.id)
        .limit(limit)
        .with_for_update(of=parts, skip_locked=True, key_share=True)
    )
    given_up = []
    for row in await conn.execute(query):
        state = _part_state(row)
        if advance(state, Event.RECEIPT_WAIT_OVER, now) is not None:
            given_up.append(state)
    return given_up


def _part_states() -> Select[Any]:
    """The columns of :func:`_part_state`: a part with its message's account and credits."""
    return select(
        parts.c.id,
        parts.c.message_id,
        parts.c.channel,
        parts.c.seqnum,
        parts.c.total,
        parts.c.status,
        parts.c.smsc_message_id,
        parts.c.submitted_at,
        parts.c.done_at,
        parts.c.error_code,
        messages.c.account_id,
        messages.c.credits,
    ).join_from(parts, messages, parts.c.message_id == messages.c.id)


def _part_state(row: Row[Any]) -> PartState:
    return PartState(
        id=row.id,
        message_id=row.message_id,
        account_id=row.account_id,
        channel=row.channel,
        seqnum=row.seqnum,
        total=row.total,
        message_credits=row.credits,
        status=PartStatus(row.status),
        smsc_message_id=row.smsc_message_id,
        submitted_at=row.submitted_at,
        done_at=row.done_at,
        error_code=row.error_code,
    )


def _submission_order(row: Row[Any]) -> tuple[datetime, int]:
    return (row.submitted_at or datetime.min.replace(tzinfo=UTC), row.id)


def _any_key(
    conn: AsyncConnection,
    channel: ColumnElement[str],
    message_id: ColumnElement[str],
    keys: dict[str, set[str]],
) -> ColumnElement[bool]:
    """Rows of each channel whose message id is one of that channel's keys."""
    return or_(
        *(
            and_(channel == name, dialects.one_of(conn.dialect.name, message_id, sorted(ids)))
            for name, ids in sorted(keys.items())
        )
    )
