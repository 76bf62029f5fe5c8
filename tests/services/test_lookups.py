"""AccountLookups: cached for ttl seconds of the injected clock, one read for concurrent misses."""

from __future__ import annotations

import asyncio

import pytest

from mesiji.domain.keys import generate_api_key
from mesiji.services.lookups import AccountLookups, TtlCache
from mesiji.storage.errors import StorageUnavailable
from mesiji.storage.records import AccountStatus, NewAccount, SenderStatus
from mesiji.storage.sql import SqlStore
from mesiji.testing import VirtualClock


async def test_a_value_is_kept_for_ttl_seconds(clock: VirtualClock) -> None:
    cache: TtlCache[str, int] = TtlCache(clock, ttl=2.0)
    loads: list[str] = []

    async def load() -> int:
        loads.append("x")
        return len(loads)

    assert await cache.get("k", load) == 1
    await clock.advance(1.9)
    assert await cache.get("k", load) == 1
    await clock.advance(0.2)
    assert await cache.get("k", load) == 2
    cache.forget("k")
    assert await cache.get("k", load) == 3
    assert len(loads) == 3


async def test_concurrent_misses_share_one_load(clock: VirtualClock) -> None:
    cache: TtlCache[str, int] = TtlCache(clock, ttl=2.0)
    release = asyncio.Event()
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await release.wait()
        return 7

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [7] * 10
    assert loads == 1


async def test_a_failed_load_is_not_kept(clock: VirtualClock) -> None:
    cache: TtlCache[str, int] = TtlCache(clock, ttl=2.0)
    attempts = 0

    async def load() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise StorageUnavailable("locked")
        return 5

    with pytest.raises(StorageUnavailable):
        await cache.get("k", load)
    assert await cache.get("k", load) == 5


async def test_ttl_zero_keeps_nothing(clock: VirtualClock) -> None:
    cache: TtlCache[str, int] = TtlCache(clock, ttl=0)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    assert [await cache.get("k", load) for _ in range(3)] == [1, 2, 3]


async def test_a_revoked_key_and_a_suspended_sender_take_effect_within_ttl(
    sql_store: SqlStore, clock: VirtualClock
) -> None:
    lookups = AccountLookups(sql_store, clock, ttl=2.0)
    account = await sql_store.create_account(NewAccount(name="Shop"))
    key = generate_api_key()
    key_id = (await sql_store.create_api_key(account.id, key.key_hash, key.prefix, "")).id
    await sql_store.set_sender(account.id, "Shop", SenderStatus.ACTIVE)
    found = await lookups.authenticate(key.key_hash)
    assert found is not None
    assert found.id == account.id
    sender = await lookups.sender(account.id, "Shop")
    assert sender is not None
    assert sender.status is SenderStatus.ACTIVE

    # Changed by another process (the CLI): seen once the entries are older than ttl.
    await sql_store.revoke_api_key(account.id, key_id)
    await sql_store.set_sender(account.id, "Shop", SenderStatus.INACTIVE)
    assert await lookups.authenticate(key.key_hash) is not None
    await clock.advance(2.1)
    assert await lookups.authenticate(key.key_hash) is None
    sender = await lookups.sender(account.id, "Shop")
    assert sender is not None
    assert sender.status is SenderStatus.INACTIVE


async def test_stop_list_is_kept_whole_or_asked_per_request(
    sql_store: SqlStore, clock: VirtualClock
) -> None:
    account = await sql_store.create_account(NewAccount(name="Shop"))
    await sql_store.add_to_stop_list(account.id, ["995599000001", "995599000002"])
    small = AccountLookups(sql_store, clock, ttl=2.0, max_stop_list=2)
    tiny = AccountLookups(sql_store, clock, ttl=2.0, max_stop_list=1)
    asked = ["995599000001", "995599000003"]
    assert await small.stop_listed(account.id, asked) == {"995599000001"}
    assert await tiny.stop_listed(account.id, asked) == {"995599000001"}

    await sql_store.add_to_stop_list(account.id, ["995599000003"])
    # The list kept whole is seconds old; the one too long to keep is asked each time.
    assert await small.stop_listed(account.id, asked) == {"995599000001"}
    assert await tiny.stop_listed(account.id, asked) == set(asked)
    small.stop_list_changed(account.id)
    assert await small.stop_listed(account.id, asked) == set(asked)


async def test_webhook_secret_and_suspended_accounts(
    sql_store: SqlStore, clock: VirtualClock
) -> None:
    lookups = AccountLookups(sql_store, clock, ttl=2.0)
    account = await sql_store.create_account(NewAccount(name="Shop"))
    assert await lookups.webhook_secret(account.id) == account.webhook_secret
    assert await lookups.webhook_secret(account.id + 1) is None
    key = generate_api_key()
    await sql_store.create_api_key(account.id, key.key_hash, key.prefix, "")
    assert await lookups.authenticate(key.key_hash) is not None
    await sql_store.set_account_status(account.id, AccountStatus.SUSPENDED)
    await clock.advance(2.1)
    assert await lookups.authenticate(key.key_hash) is None
