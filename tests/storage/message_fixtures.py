"""Helpers for the message store's contract tests: accounts with credits, messages, row counts.

Each helper reads SQL through ``store.engine``, or the in-memory store
(:class:`~mesiji.storage.memory.MemoryMessageStore`) directly: its rows as the tables hold
them, so the same assertion holds on all three.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BinaryExpression,
    BindParameter,
    Column,
    ColumnElement,
    Null,
    Table,
    func,
    select,
)

from mesiji.storage import NewAccount, SqlStore
from mesiji.storage.memory import MemoryMessageStore
from mesiji.storage.message_ports import AcceptBatch, NewMessage, PartToSend, SubmitResult
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.schema import accounts, notifications, parts

CHANNEL = "magti"

#: The lease the tests' claims take.
LEASE = timedelta(seconds=30)

_MESSAGE = NewMessage(
    sender="Mesiji",
    destination="995599000000",
    body="gamarjoba",
    alphabet="gsm7",
    segments=1,
    credits=1,
    channel=CHANNEL,
)


def message(**changes: Any) -> NewMessage:
    """A one-part message on :data:`CHANNEL` costing 1 credit, with ``changes``."""
    new = replace(_MESSAGE, **changes)
    if "credits" not in changes:
        new = replace(new, credits=new.segments)
    return new


async def funded_account(
    store: SqlStore, credits: int = 1000, *, callback_url: str | None = None
) -> int:
    """A new account holding ``credits``; its id."""
    if isinstance(store, MemoryMessageStore):
        return store.open_account(credits, callback_url)
    account = await store.create_account(NewAccount(name="Tbilisi Taxi", callback_url=callback_url))
    if credits:
        await store.add_credits(account.id, credits, "top-up")
    return account.id


async def accept_one(
    messages: SqlMessageStore, account_id: int, now: datetime, **changes: Any
) -> int:
    """Accept one message; its id."""
    accepted = await messages.accept(AcceptBatch(account_id, [message(**changes)]), now)
    return accepted.message_ids[0]


async def in_transit(
    messages: SqlMessageStore,
    account_id: int,
    now: datetime,
    smsc_ids: list[str],
    **changes: Any,
) -> tuple[int, list[PartToSend]]:
    """A message of ``len(smsc_ids)`` parts with a callback URL, submitted under those ids."""
    changes.setdefault("callback_url", "https://c")
    message_id = await accept_one(messages, account_id, now, segments=len(smsc_ids), **changes)
    claimed = await messages.claim_parts(CHANNEL, 100, "gw", now, now + LEASE)
    assert {p.message_id for p in claimed} == {message_id}
    await messages.record_submissions(
        [sent(p, i) for p, i in zip(claimed, smsc_ids, strict=True)], now
    )
    return message_id, claimed


async def balance(store: SqlStore, account_id: int) -> int:
    if isinstance(store, MemoryMessageStore):
        return store.balances[account_id]
    query = select(accounts.c.balance).where(accounts.c.id == account_id)
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def count(store: SqlStore, table: Table, *where: ColumnElement[bool]) -> int:
    """How many rows of ``table`` match ``where`` (in memory: ``column == value`` only)."""
    if isinstance(store, MemoryMessageStore):
        return sum(_matches(row, where) for row in memory_rows(store, table.name))
    query = select(func.count()).select_from(table).where(*where)
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def part_statuses(store: SqlStore, message_id: int) -> list[str]:
    if isinstance(store, MemoryMessageStore):
        return [p.status.value for p in store.parts_of(message_id)]
    query = select(parts.c.status).where(parts.c.message_id == message_id).order_by(parts.c.seqnum)
    async with store.engine.connect() as conn:
        return list((await conn.execute(query)).scalars())


async def callbacks(store: SqlStore, message_id: int) -> list[dict[str, Any]]:
    """The payloads of the message's queued callbacks, oldest first."""
    if isinstance(store, MemoryMessageStore):
        return [
            json.loads(n.payload)
            for n in sorted(store.notifications.values(), key=lambda n: n.id)
            if n.message_id == message_id
        ]
    query = (
        select(notifications.c.payload)
        .where(notifications.c.message_id == message_id)
        .order_by(notifications.c.id)
    )
    async with store.engine.connect() as conn:
        return [json.loads(p) for p in (await conn.execute(query)).scalars()]


def sent(part: PartToSend, smsc_message_id: str) -> SubmitResult:
    """The SMSC took ``part`` under ``smsc_message_id``."""
    return SubmitResult(part_id=part.part_id, smsc_message_id=smsc_message_id)


def memory_rows(store: MemoryMessageStore, table: str) -> list[dict[str, Any]]:
    """The in-memory store's rows of ``table``, with the columns tests count by."""
    if table == "messages":
        return [{"id": m.id, "status": m.status.value} for m in store.messages.values()]
    if table == "parts":
        return [
            {"id": p.id, "message_id": p.message_id, "status": p.status.value}
            for p in store.parts.values()
        ]
    if table == "message_events":
        return [
            {"message_id": m.id, "status": status, "reason": reason}
            for m in store.messages.values()
            for status, reason, _ in m.events
        ]
    if table == "balance_ledger":
        return [
            {"account_id": a, "delta": d, "reason": r, "message_id": m}
            for a, d, r, m in store.ledger
        ]
    if table == "notifications":
        return [
            {"message_id": n.message_id, "status": n.status} for n in store.notifications.values()
        ]
    if table == "receipts":
        return [
            {
                "id": r.id,
                "channel": r.channel,
                "smsc_message_id": r.key,
                "state": r.status.value,
                "err": r.error_code,
                "matched_part_id": r.matched_part_id,
            }
            for r in store.receipts
        ]
    if table == "idempotency_keys":
        return [{"account_id": a, "key": k} for a, k in store.idempotency_keys]
    raise ValueError(f"no table {table} in memory")


def _matches(row: dict[str, Any], where: tuple[ColumnElement[bool], ...]) -> bool:
    for condition in where:
        if not (isinstance(condition, BinaryExpression) and isinstance(condition.left, Column)):
            raise ValueError(f"in memory, only column == value or IS NULL: {condition}")
        if isinstance(condition.right, BindParameter) and condition.operator.__name__ == "eq":
            wanted = condition.right.value
        elif isinstance(condition.right, Null) and condition.operator.__name__ == "is_":
            wanted = None
        else:
            raise ValueError(f"in memory, only column == value or IS NULL: {condition}")
        if row[condition.left.name] != wanted:
            return False
    return True
