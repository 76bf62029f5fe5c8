"""Accepting messages: the contract of :meth:`MessageStore.accept`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from mesiji.domain.statuses import MessageStatus
from mesiji.storage import Conflict, InsufficientBalance, NotFound, SqlStore
from mesiji.storage.accept_sql import accept_batch
from mesiji.storage.engine import WRITE
from mesiji.storage.message_ports import AcceptBatch, Accepted
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.schema import (
    balance_ledger,
    idempotency_keys,
    message_events,
    messages,
    parts,
)
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database, in_another_process, recorded_statements
from tests.storage.message_fixtures import balance, count, funded_account, message


async def _rows(store: SqlStore) -> tuple[int, ...]:
    return (
        await count(store, messages),
        await count(store, parts),
        await count(store, message_events),
        await count(store, balance_ledger),
        await count(store, idempotency_keys),
    )


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def _message_inserts(statements: list[str]) -> int:
    return sum(s.lstrip().upper().startswith("INSERT INTO MESSAGES ") for s in statements)


async def test_accepted_messages_read_back(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    now = clock.now()
    batch = AcceptBatch(
        account,
        [
            message(destination="995599000001", reference="r-1", callback_url="https://x.ge/cb"),
            message(destination="995599000002", body="ა" * 200, alphabet="ucs2", segments=3),
        ],
    )
    accepted = await message_store.accept(batch, now)
    assert len(accepted.message_ids) == 2
    assert accepted.message_ids[0] < accepted.message_ids[1]
    assert (accepted.balance, accepted.replayed) == (6, False)
    assert await balance(store, account) == 6

    first = await message_store.get_message(account, accepted.message_ids[0])
    assert first is not None
    assert (first.destination, first.reference, first.callback_url) == (
        "995599000001",
        "r-1",
        "https://x.ge/cb",
    )
    assert (first.sender, first.channel, first.segments, first.credits) == ("Mesiji", "magti", 1, 1)
    assert first.status is MessageStatus.QUEUED
    assert (first.created_at, first.updated_at) == (now, now)
    assert first.events == (("queued", None, now),)
    assert first.callbacks == ()
    second = await message_store.get_message(account, accepted.message_ids[1])
    assert second is not None
    assert (second.body, second.segments) == ("ა" * 200, 3)
    assert await count(store, parts, parts.c.message_id == second.id) == 3
    assert await count(store, balance_ledger, balance_ledger.c.delta == -4) == 1


async def test_a_message_for_later_is_scheduled(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    later = clock.now() + timedelta(hours=2)
    accepted = await message_store.accept(
        AcceptBatch(account, [message(send_at=later, valid_until=later + timedelta(days=1))]),
        clock.now(),
    )
    view = await message_store.get_message(account, accepted.message_ids[0])
    assert view is not None
    assert view.status is MessageStatus.SCHEDULED
    assert (view.send_at, view.valid_until) == (later, later + timedelta(days=1))


@pytest.mark.sql_only
async def test_a_retry_with_the_same_key_replays_the_first_result(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    batch = AcceptBatch(
        account,
        [message(destination=f"99559900000{i}") for i in range(3)],
        idempotency_key="order-17",
        request_hash="abc",
    )
    first = await message_store.accept(batch, clock.now())
    rows = await _rows(store)
    # The replay answers with the balance the first request left, not today's.
    await store.add_credits(account, 5, "top-up")
    rows = await _rows(store)
    with recorded_statements(store.engine) as statements:
        again = await message_store.accept(batch, clock.now() + timedelta(minutes=1))
    assert again.message_ids == first.message_ids
    assert (again.replayed, again.balance) == (True, 7)
    assert _writes(statements) == []
    assert await _rows(store) == rows
    query = select(idempotency_keys).where(idempotency_keys.c.account_id == account)
    async with store.engine.connect() as conn:
        [key] = (await conn.execute(query)).all()
    assert (key.key, key.request_hash, key.balance) == ("order-17", "abc", 7)
    assert json.loads(key.message_ids) == list(first.message_ids)
    assert key.created_at == clock.now()
    # The request's fingerprint lives with its key; the messages' history does not carry it.
    view = await message_store.get_message(account, first.message_ids[0])
    assert view is not None
    assert view.events == (("queued", None, clock.now()),)
    # Keys belong to an account: another account's request with the key is a new one.
    other = await funded_account(store, 10)
    fresh = await message_store.accept(
        AcceptBatch(other, batch.messages, idempotency_key="order-17", request_hash="abc"),
        clock.now(),
    )
    assert not fresh.replayed
    assert set(fresh.message_ids).isdisjoint(first.message_ids)


async def test_a_key_reused_for_another_request_is_a_conflict(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    two = [message(destination="995599000001"), message(destination="995599000002")]
    await message_store.accept(
        AcceptBatch(account, two, idempotency_key="k", request_hash="h1"), clock.now()
    )
    rows = await _rows(store)
    with pytest.raises(Conflict):
        await message_store.accept(
            AcceptBatch(account, two, idempotency_key="k", request_hash="h2"), clock.now()
        )
    for size in (1, 3):
        batch = AcceptBatch(account, [message()] * size, idempotency_key="k", request_hash="h1")
        with pytest.raises(Conflict):
            await message_store.accept(batch, clock.now())
    assert await _rows(store) == rows
    assert await balance(store, account) == 8


async def test_a_key_without_a_fingerprint_replays(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    batch = AcceptBatch(account, [message()], idempotency_key="plain")
    first = await message_store.accept(batch, clock.now())
    again = await message_store.accept(batch, clock.now())
    assert (again.message_ids, again.replayed) == (first.message_ids, True)
    with pytest.raises(Conflict):
        await message_store.accept(
            AcceptBatch(account, [message()], idempotency_key="plain", request_hash="h"),
            clock.now(),
        )


async def test_an_unaffordable_request_writes_nothing(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 3)
    rows = await _rows(store)
    batch = AcceptBatch(account, [message(), message(segments=3)], idempotency_key="k")
    with pytest.raises(InsufficientBalance) as raised:
        await message_store.accept(batch, clock.now())
    assert (raised.value.required, raised.value.available) == (4, 3)
    assert await _rows(store) == rows
    assert await balance(store, account) == 3
    # The key was not used up by the refused request.
    accepted = await message_store.accept(
        AcceptBatch(account, [message()], idempotency_key="k"), clock.now()
    )
    assert not accepted.replayed


async def test_unknown_account_and_empty_requests_are_refused(
    message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    with pytest.raises(NotFound):
        await message_store.accept(AcceptBatch(999, [message()]), clock.now())
    with pytest.raises(ValueError, match="without messages"):
        await message_store.accept(AcceptBatch(999, []), clock.now())


async def test_concurrent_requests_spend_exactly_the_balance(
    database: Database, store: SqlStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 100)
    # Room for every waiting writer: on SQLite they queue for the one write lock.
    engine = database.engine(busy_timeout=60, pool_size=20)
    try:
        message_store = SqlMessageStore(engine)
        batch = AcceptBatch(account, [message()])
        outcomes = await asyncio.gather(
            *(message_store.accept(batch, clock.now()) for _ in range(1000)),
            return_exceptions=True,
        )
    finally:
        await engine.dispose()
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, InsufficientBalance)]
    assert (len(accepted), len(refused)) == (100, 900)
    assert await balance(store, account) == 0
    assert await count(store, messages) == 100
    assert await count(store, balance_ledger, balance_ledger.c.reason == "accept") == 100


async def test_concurrent_retries_store_one_request(
    database: Database, store: SqlStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 100)
    engine = database.engine(busy_timeout=60)
    try:
        message_store = SqlMessageStore(engine)
        batch = AcceptBatch(
            account, [message(), message()], idempotency_key="once", request_hash="h"
        )
        with recorded_statements(engine) as statements:
            outcomes = await asyncio.gather(
                *(message_store.accept(batch, clock.now()) for _ in range(20))
            )
    finally:
        await engine.dispose()
    assert len({o.message_ids for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert {o.balance for o in outcomes} == {98}
    # Not even rolled back: one request wrote messages, the others waited for its key.
    assert _message_inserts(statements) == 1
    assert await count(store, messages) == 2
    assert await count(store, idempotency_keys) == 1
    assert await balance(store, account) == 98


async def _accept_while_first_is_open(
    database: Database, first: AcceptBatch, second: AcceptBatch, *, commit: bool
) -> tuple[Accepted, Accepted | BaseException, list[str]]:
    """Accept ``first`` in a transaction held open while ``second`` is accepted concurrently.

    ``second`` comes from another process once ``first`` has stored its messages, and must
    wait for it to end (PostgreSQL: on the key's row; SQLite: on the write lock). ``first``
    then commits or rolls back, and both outcomes are returned with the statements ``second``
    sent.
    """
    now = VirtualClock().now()
    holder = database.engine()
    try:
        async with holder.connect() as conn:
            await conn.execution_options(**WRITE)
            transaction = await conn.begin()
            accepted = await accept_batch(conn, first, now)
            task = in_another_process(database, lambda store: store.accept(second, now))
            await asyncio.sleep(0.5)
            assert not task.done(), "the second request did not wait for the first"
            await (transaction.commit() if commit else transaction.rollback())
            outcome, statements = await task
        if isinstance(outcome, Exception) and not isinstance(outcome, Conflict):
            raise outcome
        return accepted, outcome, statements
    finally:
        await holder.dispose()


async def test_a_retry_during_the_first_request_waits_and_replays(
    database: Database, store: SqlStore
) -> None:
    account = await funded_account(store, 10)
    batch = AcceptBatch(account, [message(), message()], idempotency_key="k", request_hash="h")
    first, second, statements = await _accept_while_first_is_open(
        database, batch, batch, commit=True
    )
    assert second == Accepted(first.message_ids, first.balance, replayed=True)
    assert _message_inserts(statements) == 0
    assert await count(store, messages) == 2
    assert await balance(store, account) == 8


async def test_another_request_during_the_first_with_its_key_is_a_conflict(
    database: Database, store: SqlStore
) -> None:
    account = await funded_account(store, 10)
    batch = AcceptBatch(account, [message()], idempotency_key="k", request_hash="h1")
    other = AcceptBatch(account, [message()], idempotency_key="k", request_hash="h2")
    _, second, statements = await _accept_while_first_is_open(database, batch, other, commit=True)
    assert isinstance(second, Conflict)
    assert _message_inserts(statements) == 0
    assert await count(store, messages) == 1
    assert await balance(store, account) == 9


async def test_a_key_whose_first_request_rolled_back_is_free(
    database: Database, store: SqlStore
) -> None:
    account = await funded_account(store, 10)
    batch = AcceptBatch(account, [message()], idempotency_key="k", request_hash="h")
    _, second, _ = await _accept_while_first_is_open(database, batch, batch, commit=False)
    assert isinstance(second, Accepted)
    assert (len(second.message_ids), second.balance, second.replayed) == (1, 9, False)
    assert await count(store, messages) == 1
    assert await balance(store, account) == 9


@pytest.mark.sql_only
async def test_a_large_request_is_written_in_a_few_statements(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 1000)
    batch = AcceptBatch(
        account,
        [message(destination=f"995599{i:06d}") for i in range(1000)],
        idempotency_key="bulk",
        request_hash="h",
    )
    with recorded_statements(store.engine) as statements:
        accepted = await message_store.accept(batch, clock.now())
    assert len(_writes(statements)) <= 10
    assert len(accepted.message_ids) == 1000
    assert accepted.balance == 0
    # The ids are in the order of the request.
    views = [await message_store.get_message(account, i) for i in accepted.message_ids[::250]]
    assert [v.destination for v in views if v] == [f"995599{i:06d}" for i in range(0, 1000, 250)]
    replay = await message_store.accept(batch, clock.now())
    assert replay.message_ids == accepted.message_ids
