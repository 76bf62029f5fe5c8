"""Group commit: the contract of :meth:`SqlMessageStore.accept_many`, on SQLite and PostgreSQL.

Several requests share one transaction; each runs in a savepoint, so a request refused for its
own reasons (balance, idempotency key, account) rolls back alone, and a failure of the
transaction fails them all. The last tests drive it through :class:`AcceptBatcher`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import event, select

from mesiji.services.group_commit import AcceptBatcher
from mesiji.storage import Conflict, InsufficientBalance, NotFound, SqlStore, StorageUnavailable
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


def _request(account: int, size: int, *, start: int = 0, **key: Any) -> AcceptBatch:
    """A request of ``size`` one-credit messages to distinct numbers."""
    return AcceptBatch(
        account, [message(destination=f"9955990{start + i:05d}") for i in range(size)], **key
    )


async def _rows(store: SqlStore) -> tuple[int, ...]:
    return (
        await count(store, messages),
        await count(store, parts),
        await count(store, message_events),
        await count(store, balance_ledger, balance_ledger.c.reason == "accept"),
        await count(store, idempotency_keys),
    )


async def _destinations(store: SqlStore, ids: tuple[int, ...]) -> list[str]:
    query = select(messages.c.destination).where(messages.c.id.in_(ids)).order_by(messages.c.id)
    async with store.engine.connect() as conn:
        return list((await conn.execute(query)).scalars())


@pytest.mark.sql_only
async def test_a_group_commits_every_request_in_one_transaction(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 100)
    other = await funded_account(store, 100)
    group = [
        _request(account, 2, start=0),
        _request(other, 3, start=10),
        _request(account, 1, start=20),
    ]
    with recorded_statements(store.engine) as statements:
        outcomes = await message_store.accept_many(group, clock.now())
    assert all(isinstance(o, Accepted) for o in outcomes)
    first, second, third = (o for o in outcomes if isinstance(o, Accepted))
    # Each request's balance is the one it left; the later one sees the earlier one's debit.
    assert (first.balance, second.balance, third.balance) == (98, 97, 97)
    assert len(first.message_ids) == 2
    assert len(second.message_ids) == 3
    # Ids are in the order of each request's messages.
    assert await _destinations(store, first.message_ids) == ["995599000000", "995599000001"]
    assert await _destinations(store, second.message_ids) == [
        "995599000010",
        "995599000011",
        "995599000012",
    ]
    assert await balance(store, account) == 97
    assert await balance(store, other) == 97
    assert await _rows(store) == (6, 6, 6, 3, 0)
    # One transaction, one multi-row INSERT per table for the whole group, and no savepoint
    # for requests without a key (a refused reservation writes nothing).
    upper = [s.lstrip().upper() for s in statements]
    assert sum(s.startswith("BEGIN") for s in upper) <= 1
    assert sum(s.startswith("SAVEPOINT") for s in upper) == 0
    for table in ("MESSAGES", "PARTS", "MESSAGE_EVENTS", "BALANCE_LEDGER"):
        assert sum(s.startswith(f"INSERT INTO {table} ") for s in upper) == 1
    # One reservation per account when its requests' total fits.
    assert sum(s.startswith("UPDATE ACCOUNTS ") for s in upper) == 2


@pytest.mark.sql_only
async def test_a_request_short_of_balance_is_refused_alone(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 5)
    group = [
        _request(account, 2, start=0, idempotency_key="a", request_hash="ha"),
        _request(account, 4, start=10, idempotency_key="b", request_hash="hb"),  # 3 left
        _request(account, 3, start=20, idempotency_key="c", request_hash="hc"),
    ]
    outcomes = await message_store.accept_many(group, clock.now())
    first, short, last = outcomes
    assert isinstance(first, Accepted)
    assert isinstance(last, Accepted)
    assert isinstance(short, InsufficientBalance)
    assert (short.required, short.available) == (4, 3)
    assert (first.balance, last.balance) == (3, 0)
    assert await balance(store, account) == 0
    # The refused request wrote nothing, not even its idempotency key.
    assert await _rows(store) == (5, 5, 5, 2, 2)
    query = select(idempotency_keys.c.key).order_by(idempotency_keys.c.key)
    async with store.engine.connect() as conn:
        assert list((await conn.execute(query)).scalars()) == ["a", "c"]
    assert await _destinations(store, first.message_ids + last.message_ids) == [
        "995599000000",
        "995599000001",
        "995599000020",
        "995599000021",
        "995599000022",
    ]
    # Its key is free: the same request, with credits, is accepted later.
    await store.add_credits(account, 4, "top-up")
    [again] = await message_store.accept_many([group[1]], clock.now())
    assert isinstance(again, Accepted)
    assert not again.replayed


@pytest.mark.sql_only
async def test_requests_without_keys_short_of_balance_are_refused_alone(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 5)
    other = await funded_account(store, 1)
    group = [
        _request(account, 2, start=0),
        _request(other, 1, start=30),
        _request(account, 4, start=10),  # 3 left: refused
        _request(account, 3, start=20),
        _request(other, 1, start=40),  # refused
    ]
    outcomes = await message_store.accept_many(group, clock.now())
    first, other_first, short, last, other_short = outcomes
    assert isinstance(first, Accepted)
    assert isinstance(last, Accepted)
    assert isinstance(other_first, Accepted)
    assert isinstance(short, InsufficientBalance)
    assert (short.required, short.available) == (4, 3)
    assert isinstance(other_short, InsufficientBalance)
    assert (first.balance, last.balance, other_first.balance) == (3, 0, 0)
    assert (await balance(store, account), await balance(store, other)) == (0, 0)
    assert await _rows(store) == (6, 6, 6, 3, 0)
    assert await _destinations(store, first.message_ids + last.message_ids) == [
        "995599000000",
        "995599000001",
        "995599000020",
        "995599000021",
        "995599000022",
    ]


@pytest.mark.sql_only
async def test_idempotency_keys_replay_and_conflict_within_a_group(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    earlier = await message_store.accept(
        _request(account, 1, start=50, idempotency_key="old", request_hash="h-old"), clock.now()
    )
    keyed = _request(account, 2, idempotency_key="k", request_hash="h")
    group = [
        keyed,
        keyed,  # a retry in the same group: replays the first
        _request(account, 2, idempotency_key="k", request_hash="other"),  # same key, new request
        _request(account, 1, start=50, idempotency_key="old", request_hash="h-old"),  # replay
        _request(account, 1, start=60, idempotency_key="old", request_hash="x"),  # conflict
        _request(account, 1, start=70),
    ]
    with recorded_statements(store.engine) as statements:
        outcomes = await message_store.accept_many(group, clock.now())
    stored, retry, conflict, replay, old_conflict, plain = outcomes
    assert isinstance(stored, Accepted)
    assert not stored.replayed
    assert retry == Accepted(stored.message_ids, stored.balance, replayed=True)
    assert isinstance(conflict, Conflict)
    assert replay == Accepted(earlier.message_ids, earlier.balance, replayed=True)
    assert isinstance(old_conflict, Conflict)
    assert isinstance(plain, Accepted)
    assert plain.balance == 6
    assert await balance(store, account) == 6
    assert await _rows(store) == (4, 4, 4, 3, 2)
    # One message insert for the group; the retry and the replays wrote no messages.
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO MESSAGES ")]
    assert len(inserts) == 1
    query = select(idempotency_keys.c.message_ids).where(idempotency_keys.c.key == "k")
    async with store.engine.connect() as conn:
        assert json.loads((await conn.execute(query)).scalar_one()) == list(stored.message_ids)


async def test_a_key_freed_by_a_refused_request_is_taken_by_the_next(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 2)
    group = [
        _request(account, 3, idempotency_key="k", request_hash="big"),
        _request(account, 2, idempotency_key="k", request_hash="small"),
    ]
    refused, accepted = await message_store.accept_many(group, clock.now())
    assert isinstance(refused, InsufficientBalance)
    assert isinstance(accepted, Accepted)
    assert not accepted.replayed
    assert await _rows(store) == (2, 2, 2, 1, 1)


async def test_unknown_accounts_and_malformed_requests_fail_alone(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    group = [
        _request(999, 1),
        AcceptBatch(account, []),
        _request(account, 1),
    ]
    unknown, empty, accepted = await message_store.accept_many(group, clock.now())
    assert isinstance(unknown, NotFound)
    assert isinstance(empty, ValueError)
    assert isinstance(accepted, Accepted)
    assert accepted.balance == 9
    assert await message_store.accept_many([], clock.now()) == []


@pytest.mark.sql_only
async def test_a_failed_transaction_fails_the_whole_group(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    rows = await _rows(store)

    def fail_events_insert(*args: Any) -> None:
        # After the balances, messages and parts of the whole group were written.
        if args[2].lstrip().upper().startswith("INSERT INTO MESSAGE_EVENTS"):
            raise StorageUnavailable("disk I/O error")

    group = [_request(account, 1), _request(account, 1, start=1), _request(account, 1, start=2)]
    event.listen(store.engine.sync_engine, "before_cursor_execute", fail_events_insert)
    try:
        with pytest.raises(StorageUnavailable):
            await message_store.accept_many(group, clock.now())
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", fail_events_insert)
    # Every row the group wrote was rolled back: nothing is half stored.
    assert await _rows(store) == rows
    assert await balance(store, account) == 10


async def test_no_connection_fails_the_whole_group(
    database: Database, store: SqlStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 10)
    engine = database.engine(pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with engine.connect():  # the only connection is taken
            with pytest.raises(StorageUnavailable):
                await SqlMessageStore(engine).accept_many(
                    [_request(account, 1), _request(account, 1, start=1)], clock.now()
                )
    finally:
        await engine.dispose()
    assert await balance(store, account) == 10


async def test_a_group_waits_for_a_concurrent_request_with_its_key_and_replays_it(
    database: Database, store: SqlStore
) -> None:
    account = await funded_account(store, 10)
    batch = _request(account, 2, idempotency_key="k", request_hash="h")
    now = VirtualClock().now()
    holder = database.engine()
    try:
        async with holder.connect() as conn:
            await conn.execution_options(**WRITE)
            transaction = await conn.begin()
            first = await accept_batch(conn, batch, now)
            task = in_another_process(
                database, lambda store: store.accept_many([batch, _request(account, 1)], now)
            )
            await asyncio.sleep(0.5)
            assert not task.done(), "the group did not wait for the open request"
            await transaction.commit()
            outcome, _ = await task
    finally:
        await holder.dispose()
    assert isinstance(outcome, list)
    replayed, other = outcome
    assert replayed == Accepted(first.message_ids, first.balance, replayed=True)
    assert isinstance(other, Accepted)
    assert other.balance == 7
    assert await count(store, messages) == 3


# -- through the batcher ---------------------------------------------------------------------


async def test_concurrent_accepts_through_the_batcher_spend_exactly_the_balance(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 100)
    batcher = AcceptBatcher(message_store, clock, max_delay=0)
    batch = AcceptBatch(account, [message()])
    outcomes = await asyncio.gather(
        *(batcher.accept(batch, clock.now()) for _ in range(1000)), return_exceptions=True
    )
    await batcher.close()
    accepted = [o for o in outcomes if isinstance(o, Accepted)]
    refused = [o for o in outcomes if isinstance(o, InsufficientBalance)]
    assert (len(accepted), len(refused)) == (100, 900)
    # Every balance from 99 down to 0 was handed out once, in commit order.
    assert sorted(a.balance for a in accepted) == list(range(100))
    assert len({i for a in accepted for i in a.message_ids}) == 100
    assert await balance(store, account) == 0
    assert await count(store, messages) == 100
    assert await count(store, balance_ledger, balance_ledger.c.reason == "accept") == 100
    # A handful of transactions, not a thousand.
    assert batcher.requests == 1000
    assert batcher.groups <= 10


async def test_concurrent_retries_through_the_batcher_store_one_request(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 100)
    batcher = AcceptBatcher(message_store, clock, max_delay=0, max_batch=8)
    batch = _request(account, 2, idempotency_key="once", request_hash="h")
    outcomes = await asyncio.gather(*(batcher.accept(batch, clock.now()) for _ in range(20)))
    await batcher.close()
    assert len({o.message_ids for o in outcomes}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert {o.balance for o in outcomes} == {98}
    assert await count(store, messages) == 2
    assert batcher.groups == 3


async def test_keyed_and_plain_requests_of_an_account_are_debited_in_order(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 4)
    group = [
        _request(account, 2, start=0),
        _request(account, 2, start=10, idempotency_key="k", request_hash="h"),
        _request(account, 1, start=20),  # nothing left
        _request(account, 1, start=30, idempotency_key="k2", request_hash="h"),  # nothing left
    ]
    first, keyed, late, late_keyed = await message_store.accept_many(group, clock.now())
    assert isinstance(first, Accepted)
    assert isinstance(keyed, Accepted)
    assert (first.balance, keyed.balance) == (2, 0)
    assert isinstance(late, InsufficientBalance)
    assert isinstance(late_keyed, InsufficientBalance)
    assert await _rows(store) == (4, 4, 4, 2, 1)
