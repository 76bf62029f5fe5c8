"""Senders: the contract of :class:`mesiji.storage.ports.Senders`."""

from __future__ import annotations

import pytest

from mesiji.storage import NewAccount, NotFound, SenderStatus, SqlStore
from mesiji.testing import VirtualClock


async def test_a_sender_is_created_then_its_status_changes(
    store: SqlStore, clock: VirtualClock
) -> None:
    account = await store.create_account(NewAccount(name="A"))
    requested = await store.set_sender(account.id, "Fasdakleba", SenderStatus.PENDING)
    assert (requested.account_id, requested.name) == (account.id, "Fasdakleba")
    assert requested.status is SenderStatus.PENDING
    assert requested.created_at == requested.updated_at == clock.now()

    await clock.advance(2 * 24 * 3600)
    authorized = await store.set_sender(account.id, "Fasdakleba", SenderStatus.ACTIVE)
    assert authorized.id == requested.id
    assert authorized.status is SenderStatus.ACTIVE
    assert authorized.created_at == requested.created_at
    assert authorized.updated_at == clock.now()
    assert await store.get_sender(account.id, "Fasdakleba") == authorized
    assert await store.list_senders(account.id) == [authorized]


async def test_sender_names_are_unique_per_account(store: SqlStore) -> None:
    first = await store.create_account(NewAccount(name="A"))
    second = await store.create_account(NewAccount(name="B"))
    mine = await store.set_sender(first.id, "Kuradgeba", SenderStatus.ACTIVE)
    theirs = await store.set_sender(second.id, "Kuradgeba", SenderStatus.REFUSED)
    assert mine.id != theirs.id
    assert await store.get_sender(first.id, "Kuradgeba") == mine
    assert await store.get_sender(second.id, "Kuradgeba") == theirs


async def test_senders_are_listed_by_name(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    for name in ("SMSOFFICE", "Beeline", "Magti"):
        await store.set_sender(account.id, name, SenderStatus.INACTIVE)
    assert [s.name for s in await store.list_senders(account.id)] == [
        "Beeline",
        "Magti",
        "SMSOFFICE",
    ]


async def test_unknown_senders_and_accounts(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    assert await store.get_sender(account.id, "Nobody") is None
    assert await store.list_senders(account.id) == []
    with pytest.raises(NotFound):
        await store.set_sender(12345, "Nobody", SenderStatus.PENDING)
