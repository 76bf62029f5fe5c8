"""API keys: the contract of :class:`mesiji.storage.ports.ApiKeys`."""

from __future__ import annotations

import pytest

from mesiji.storage import AccountStatus, Conflict, NewAccount, NotFound, SqlStore
from mesiji.testing import VirtualClock


async def test_a_key_authenticates_its_account(store: SqlStore, clock: VirtualClock) -> None:
    account = await store.create_account(NewAccount(name="A"))
    key = await store.create_api_key(account.id, "hash-1", "msj_ab12", "website")
    assert (key.account_id, key.prefix, key.label) == (account.id, "msj_ab12", "website")
    assert key.created_at == clock.now()
    assert key.revoked_at is None
    assert not key.revoked
    assert key.last_used_at is None
    assert await store.authenticate("hash-1") == account
    assert await store.authenticate("hash-2") is None


async def test_last_use_is_noted_at_most_once_a_minute(
    store: SqlStore, clock: VirtualClock
) -> None:
    account = await store.create_account(NewAccount(name="A"))
    key = await store.create_api_key(account.id, "hash-1", "msj_ab12", "")
    first_use = clock.now()
    assert await store.authenticate("hash-1") is not None
    [listed] = await store.list_api_keys(account.id)
    assert listed.last_used_at == first_use

    await clock.advance(59)
    assert await store.authenticate("hash-1") is not None
    [listed] = await store.list_api_keys(account.id)
    assert listed.last_used_at == first_use

    await clock.advance(1)
    assert await store.authenticate("hash-1") is not None
    [listed] = await store.list_api_keys(account.id)
    assert listed.id == key.id
    assert listed.last_used_at == clock.now()


async def test_a_revoked_key_no_longer_authenticates(store: SqlStore, clock: VirtualClock) -> None:
    account = await store.create_account(NewAccount(name="A"))
    old = await store.create_api_key(account.id, "hash-old", "msj_old0", "old")
    new = await store.create_api_key(account.id, "hash-new", "msj_new0", "new")
    assert await store.revoke_api_key(account.id, old.id) is True
    assert await store.revoke_api_key(account.id, old.id) is False
    assert await store.authenticate("hash-old") is None
    assert await store.authenticate("hash-new") == account
    listed = await store.list_api_keys(account.id)
    assert [k.id for k in listed] == [old.id, new.id]
    assert listed[0].revoked
    assert listed[0].revoked_at == clock.now()
    assert not listed[1].revoked


async def test_an_account_cannot_revoke_another_accounts_key(store: SqlStore) -> None:
    owner = await store.create_account(NewAccount(name="Owner"))
    other = await store.create_account(NewAccount(name="Other"))
    key = await store.create_api_key(owner.id, "hash-1", "msj_ab12", "")
    assert await store.revoke_api_key(other.id, key.id) is False
    assert await store.revoke_api_key(owner.id, key.id + 100) is False
    assert await store.authenticate("hash-1") == owner
    assert await store.list_api_keys(other.id) == []


async def test_suspended_or_api_disabled_accounts_do_not_authenticate(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    await store.create_api_key(account.id, "hash-1", "msj_ab12", "")
    await store.set_account_status(account.id, AccountStatus.SUSPENDED)
    assert await store.authenticate("hash-1") is None
    await store.set_account_status(account.id, AccountStatus.ACTIVE)
    assert await store.authenticate("hash-1") == account

    panel_only = await store.create_account(NewAccount(name="B", api_enabled=False))
    await store.create_api_key(panel_only.id, "hash-2", "msj_cd34", "")
    assert await store.authenticate("hash-2") is None


async def test_a_key_hash_is_unique_across_accounts(store: SqlStore) -> None:
    first = await store.create_account(NewAccount(name="A"))
    second = await store.create_account(NewAccount(name="B"))
    await store.create_api_key(first.id, "hash-1", "msj_ab12", "")
    with pytest.raises(Conflict):
        await store.create_api_key(second.id, "hash-1", "msj_ab12", "")
    assert await store.list_api_keys(second.id) == []


async def test_keys_need_an_existing_account(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.create_api_key(12345, "hash-1", "msj_ab12", "")
