"""Accounts and credits: the contract of :class:`mesiji.storage.ports.Accounts`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from mesiji.storage import (
    AccountStatus,
    Conflict,
    InsufficientBalance,
    NewAccount,
    NotFound,
    SqlStore,
)
from mesiji.storage.schema import balance_ledger
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database


async def _ledger(store: SqlStore, account_id: int) -> list[tuple[int, str]]:
    query = (
        select(balance_ledger.c.delta, balance_ledger.c.reason)
        .where(balance_ledger.c.account_id == account_id)
        .order_by(balance_ledger.c.id)
    )
    async with store.engine.connect() as conn:
        return [(row.delta, row.reason) for row in await conn.execute(query)]


async def test_a_new_account_is_active_and_empty(store: SqlStore, clock: VirtualClock) -> None:
    new = NewAccount(
        name="Fasdakleba LLC",
        website="https://fasdakleba.ge",
        contact_email="info@fasdakleba.ge",
        contact_phone="995599123456",
        price_per_segment=2,
        allowed_regions=("GE", "AM"),
        api_enabled=False,
        webhook_secret="s3cret",
        callback_url="https://fasdakleba.ge/sms/status",
    )
    account = await store.create_account(new)
    assert account.id > 0
    assert (account.name, account.website) == ("Fasdakleba LLC", "https://fasdakleba.ge")
    assert (account.contact_email, account.contact_phone) == (
        "info@fasdakleba.ge",
        "995599123456",
    )
    assert account.status is AccountStatus.ACTIVE
    assert account.active
    assert account.balance == 0
    assert account.price_per_segment == 2
    assert account.allowed_regions == ("GE", "AM")
    assert account.api_enabled is False
    assert account.webhook_secret == "s3cret"
    assert account.callback_url == "https://fasdakleba.ge/sms/status"
    assert account.created_at == clock.now()


async def test_an_opening_balance_comes_with_the_account_and_its_ledger_row(
    store: SqlStore,
) -> None:
    account = await store.create_account(NewAccount(name="Shop", opening_balance=250))
    assert account.balance == 250
    assert await _ledger(store, account.id) == [(250, "opening balance")]
    # A negative one is refused by the database, and nothing of the account is kept.
    with pytest.raises(Conflict):
        await store.create_account(NewAccount(name="Broke", opening_balance=-1))
    assert [a.name for a in await store.list_accounts()] == ["Shop"]
    assert account.created_at.tzinfo is UTC
    assert await store.get_account(account.id) == account


async def test_defaults_and_a_generated_webhook_secret(store: SqlStore) -> None:
    first = await store.create_account(NewAccount(name="A"))
    second = await store.create_account(NewAccount(name="B"))
    assert first.allowed_regions == ("GE",)
    assert first.price_per_segment == 1
    assert first.api_enabled is True
    assert first.website is None
    assert first.callback_url is None
    assert len(first.webhook_secret) >= 32
    assert first.webhook_secret != second.webhook_secret


async def test_times_are_stored_as_the_same_instant_in_utc(database: Database) -> None:
    # Tbilisi is UTC+4: a clock reporting local time must not shift stored instants.
    tbilisi = datetime(2026, 5, 6, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=4)))
    store = await database.open_store(VirtualClock(start=tbilisi))
    try:
        account = await store.create_account(NewAccount(name="A"))
        stored = await store.get_account(account.id)
        assert stored is not None
        assert stored.created_at == tbilisi
        assert stored.created_at.tzinfo is UTC
        assert stored.created_at.hour == 8
    finally:
        await store.close()


async def test_unknown_account(store: SqlStore) -> None:
    assert await store.get_account(12345) is None
    with pytest.raises(NotFound):
        await store.set_account_status(12345, AccountStatus.SUSPENDED)
    with pytest.raises(NotFound):
        await store.add_credits(12345, 10, "top-up")


async def test_accounts_are_listed_oldest_first(store: SqlStore) -> None:
    assert await store.list_accounts() == []
    created = [await store.create_account(NewAccount(name=name)) for name in ("C", "A", "B")]
    assert await store.list_accounts() == created


async def test_suspend_and_reactivate(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    suspended = await store.set_account_status(account.id, AccountStatus.SUSPENDED)
    assert suspended.status is AccountStatus.SUSPENDED
    assert not suspended.active
    assert await store.get_account(account.id) == suspended
    active = await store.set_account_status(account.id, AccountStatus.ACTIVE)
    assert active == account


async def test_an_accounts_own_send_rate(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    assert account.send_rate is None  # the gateway's default
    limited = await store.set_send_rate(account.id, 5)
    assert limited.send_rate == 5
    assert await store.get_account(account.id) == limited
    assert (await store.set_send_rate(account.id, 0)).send_rate == 0  # no limit
    assert await store.set_send_rate(account.id, None) == account
    created = await store.create_account(NewAccount(name="B", send_rate=2))
    assert created.send_rate == 2
    with pytest.raises(ValueError, match="send_rate"):
        await store.set_send_rate(account.id, -1)
    with pytest.raises(NotFound):
        await store.set_send_rate(12345, 1)


async def test_credits_are_added_and_spent_with_a_ledger_row_each(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    assert await store.add_credits(account.id, 1000, "invoice 17") == 1000
    assert await store.add_credits(account.id, -3, "campaign") == 997
    stored = await store.get_account(account.id)
    assert stored is not None
    assert stored.balance == 997
    assert await _ledger(store, account.id) == [(1000, "invoice 17"), (-3, "campaign")]


async def test_the_balance_never_goes_below_zero(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    await store.add_credits(account.id, 7, "top-up")
    with pytest.raises(InsufficientBalance) as refused:
        await store.add_credits(account.id, -8, "too much")
    assert (refused.value.available, refused.value.required) == (7, 8)
    assert await store.add_credits(account.id, -7, "all of it") == 0
    with pytest.raises(InsufficientBalance):
        await store.add_credits(account.id, -1, "one more")
    # Refused debits leave no trace.
    assert await _ledger(store, account.id) == [(7, "top-up"), (-7, "all of it")]


async def test_a_change_of_zero_credits_is_a_mistake(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    with pytest.raises(ValueError, match="zero"):
        await store.add_credits(account.id, 0, "nothing")


async def test_concurrent_debits_never_overdraw(database: Database) -> None:
    store = await database.open_store(pool_size=25)
    checked_out = 0
    peak = 0

    def checkout(*_: object) -> None:
        nonlocal checked_out, peak
        checked_out += 1
        peak = max(peak, checked_out)

    def checkin(*_: object) -> None:
        nonlocal checked_out
        checked_out -= 1

    try:
        account = await store.create_account(NewAccount(name="A"))
        await store.add_credits(account.id, 20, "top-up")
        event.listen(store.engine.sync_engine.pool, "checkout", checkout)
        event.listen(store.engine.sync_engine.pool, "checkin", checkin)
        results = await asyncio.gather(
            *(store.add_credits(account.id, -1, f"message {i}") for i in range(50)),
            return_exceptions=True,
        )
        spent = sorted(r for r in results if isinstance(r, int))
        refused = [r for r in results if isinstance(r, InsufficientBalance)]
        assert spent == list(range(20))
        assert len(refused) == 30
        assert peak > 1, "the debits did not run on concurrent connections"
        stored = await store.get_account(account.id)
        assert stored is not None
        assert stored.balance == 0
        ledger = await _ledger(store, account.id)
        assert sum(delta for delta, _ in ledger) == 0
        assert len(ledger) == 21
    finally:
        await store.close()
