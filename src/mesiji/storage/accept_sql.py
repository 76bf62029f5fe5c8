"""Accepting a request on SQL: reserve its credits, store its messages, or replay it.

:func:`accept_batch` runs inside a write transaction the caller opened; everything it writes
commits together or not at all. Rows are written with one multi-row statement per table, so
a request of 1,000 messages costs a handful of round trips.

Idempotency: a request with a key first looks the key up in ``idempotency_keys``. A key seen
before answers with the first request's ids and balance (its fingerprint matching) or a
:class:`Conflict`. A new key is claimed by inserting its row *before* the request is stored and
completed with the result at the end, in the same transaction. A concurrent request with the
key therefore waits on that row (PostgreSQL; SQLite has one writer at a time) and, once the
first commits, finds the key taken and replays it: two requests with one key never both store
messages. If the first rolls back (its credits did not suffice), the key was never taken.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mesiji.domain.statuses import MessageStatus, PartStatus, derive_message_status
from mesiji.storage import dialects
from mesiji.storage.errors import Conflict, InsufficientBalance, NotFound
from mesiji.storage.message_ports import AcceptBatch, Accepted
from mesiji.storage.schema import (
    accounts,
    balance_ledger,
    idempotency_keys,
    message_events,
    messages,
    parts,
)

__all__ = ["ACCEPT_REASON", "accept_batch", "check_batch"]

#: The ledger reason of the credits reserved when messages are accepted.
ACCEPT_REASON = "accept"


def check_batch(batch: AcceptBatch) -> None:
    """Raise ValueError for a request no caller should make."""
    if not batch.messages:
        raise ValueError("a request without messages")
    for m in batch.messages:
        if m.segments < 1 or m.credits < 0:
            raise ValueError(f"{m.segments} segments for {m.credits} credits")


async def accept_batch(conn: AsyncConnection, batch: AcceptBatch, now: datetime) -> Accepted:
    """Replay the request if its key was seen, else reserve its credits and store it.

    Raises :class:`Conflict` for a key seen with another request,
    :class:`InsufficientBalance` when the balance does not cover the request, and
    :class:`NotFound` for an unknown account.
    """
    key = batch.idempotency_key
    if key is not None:
        seen = await _replay(conn, batch, key)
        if seen is not None:
            return seen
        if not await _claim_key(conn, batch, key, now):
            # A concurrent request claimed the key after the lookup; the insert waited for it
            # to commit, and this statement's snapshot (READ COMMITTED) sees its result.
            seen = await _replay(conn, batch, key)
            if seen is None:
                raise Conflict(f"idempotency key {key!r} is in use by a concurrent request")
            return seen
    accepted = await _store(conn, batch, now)
    if key is not None:
        await conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.account_id == batch.account_id,
                idempotency_keys.c.key == key,
            )
            .values(message_ids=json.dumps(accepted.message_ids), balance=accepted.balance)
        )
    return accepted


async def _store(conn: AsyncConnection, batch: AcceptBatch, now: datetime) -> Accepted:
    """Reserve the request's credits and write its messages, parts, events and ledger row."""
    cost = sum(m.credits for m in batch.messages)
    balance = await _reserve(conn, batch.account_id, cost)
    statuses = [_initial_status(m.segments, m.send_at, now) for m in batch.messages]
    ids = await _insert_messages(conn, batch, statuses, now)
    await conn.execute(
        parts.insert(),
        [
            {
                "message_id": message_id,
                "seqnum": seqnum,
                "total": m.segments,
                "channel": m.channel,
                "status": PartStatus.QUEUED.value,
                "attempts": 0,
            }
            for message_id, m in zip(ids, batch.messages, strict=True)
            for seqnum in range(1, m.segments + 1)
        ],
    )
    await conn.execute(
        message_events.insert(),
        [
            {"message_id": message_id, "status": status.value, "reason": None, "at": now}
            for message_id, status in zip(ids, statuses, strict=True)
        ],
    )
    if cost:
        await conn.execute(
            balance_ledger.insert().values(
                account_id=batch.account_id,
                delta=-cost,
                reason=ACCEPT_REASON,
                message_id=ids[0],
                at=now,
            )
        )
    return Accepted(message_ids=tuple(ids), balance=balance)


async def _reserve(conn: AsyncConnection, account_id: int, cost: int) -> int:
    """Take ``cost`` credits from the account; the balance left."""
    if cost > 0:
        # One guarded UPDATE: no concurrent debit can come between the check and the change
        # (PostgreSQL re-evaluates the WHERE on the row it waited for).
        statement = (
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.balance >= cost)
            .values(balance=accounts.c.balance - cost)
            .returning(accounts.c.balance)
        )
        balance = (await conn.execute(statement)).scalar_one_or_none()
        if balance is not None:
            return int(balance)
    query = select(accounts.c.balance).where(accounts.c.id == account_id)
    current = (await conn.execute(query)).scalar_one_or_none()
    if current is None:
        raise NotFound(f"no account {account_id}")
    if cost > 0:
        raise InsufficientBalance(required=cost, available=int(current))
    return int(current)


async def _insert_messages(
    conn: AsyncConnection, batch: AcceptBatch, statuses: list[MessageStatus], now: datetime
) -> list[int]:
    """Insert the messages; their ids, in the order of the request."""
    rows = [
        {
            "account_id": batch.account_id,
            "reference": m.reference,
            "sender": m.sender,
            "destination": m.destination,
            "operator": m.operator,
            "channel": m.channel,
            "body": m.body,
            "alphabet": m.alphabet,
            "segments": m.segments,
            "credits": m.credits,
            "status": status.value,
            "error_code": None,
            "urgent": m.urgent,
            "callback_url": m.callback_url,
            "send_at": m.send_at,
            "valid_until": m.valid_until,
            "created_at": now,
            "updated_at": now,
        }
        for m, status in zip(batch.messages, statuses, strict=True)
    ]
    sqlite = conn.dialect.name == "sqlite"
    # Asked to keep RETURNING in parameter order, SQLAlchemy sends SQLite one INSERT per row.
    # SQLite numbers the rows of one INSERT in VALUES order and BEGIN IMMEDIATE keeps other
    # writers out, so sorting the ids restores that order at a fraction of the cost.
    statement = messages.insert().returning(messages.c.id, sort_by_parameter_order=not sqlite)
    ids = [row.id for row in await conn.execute(statement, rows)]
    return sorted(ids) if sqlite else ids


async def _replay(conn: AsyncConnection, batch: AcceptBatch, key: str) -> Accepted | None:
    """The first result of a request with this key, or None if the key is new."""
    query = select(
        idempotency_keys.c.request_hash,
        idempotency_keys.c.message_ids,
        idempotency_keys.c.balance,
    ).where(
        idempotency_keys.c.account_id == batch.account_id,
        idempotency_keys.c.key == key,
    )
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return None
    ids = tuple(int(i) for i in json.loads(row.message_ids))
    # The fingerprint decides; the number of messages guards against a caller without one.
    if row.request_hash != batch.request_hash or len(ids) != len(batch.messages):
        raise Conflict(f"idempotency key {key!r} was used for a different request")
    return Accepted(message_ids=ids, balance=int(row.balance), replayed=True)


async def _claim_key(conn: AsyncConnection, batch: AcceptBatch, key: str, now: datetime) -> bool:
    """Take the key for this request; False if another request holds it.

    The row's result columns are placeholders until :func:`accept_batch` fills them in, in the
    same transaction: no other transaction ever sees them. On PostgreSQL the insert waits for a
    concurrent transaction that inserted the key and finds a conflict only if it commits.
    """
    statement = (
        dialects.insert(conn.dialect.name, idempotency_keys)
        .values(
            account_id=batch.account_id,
            key=key,
            request_hash=batch.request_hash,
            message_ids="[]",
            balance=0,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=[idempotency_keys.c.account_id, idempotency_keys.c.key]
        )
        .returning(idempotency_keys.c.key)
    )
    return (await conn.execute(statement)).first() is not None


def _initial_status(segments: int, send_at: datetime | None, now: datetime) -> MessageStatus:
    return derive_message_status([PartStatus.QUEUED] * segments, send_at=send_at, now=now)
