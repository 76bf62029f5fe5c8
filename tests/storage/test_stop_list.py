"""The stop list: the contract of :class:`mesiji.storage.ports.StopList`."""

from __future__ import annotations

import pytest

from mesiji.storage import NewAccount, NotFound, SqlStore
from tests.storage.conftest import recorded_statements


def _numbers(start: int, count: int) -> list[str]:
    return [f"995599{n:06d}" for n in range(start, start + count)]


async def test_numbers_are_added_once(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    assert await store.add_to_stop_list(account.id, ["995599000001", "995599000002"]) == 2
    added = ["995599000002", "995599000003", "995599000003"]
    assert await store.add_to_stop_list(account.id, iter(added)) == 1
    assert await store.add_to_stop_list(account.id, []) == 0
    assert await store.list_stop_list(account.id) == [
        "995599000001",
        "995599000002",
        "995599000003",
    ]


async def test_numbers_are_removed(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    await store.add_to_stop_list(account.id, _numbers(0, 5))
    removed = ["995599000001", "995599000001", "995599000003", "995599999999"]
    assert await store.remove_from_stop_list(account.id, removed) == 2
    assert await store.remove_from_stop_list(account.id, []) == 0
    assert await store.list_stop_list(account.id) == [
        "995599000000",
        "995599000002",
        "995599000004",
    ]


async def test_each_account_has_its_own_stop_list(store: SqlStore) -> None:
    first = await store.create_account(NewAccount(name="A"))
    second = await store.create_account(NewAccount(name="B"))
    await store.add_to_stop_list(first.id, ["995599000001"])
    assert await store.add_to_stop_list(second.id, ["995599000001", "995599000002"]) == 2
    assert await store.remove_from_stop_list(first.id, ["995599000002"]) == 0
    assert await store.stop_listed(first.id, ["995599000001", "995599000002"]) == {"995599000001"}


async def test_a_thousand_numbers_are_checked_in_one_query(store: SqlStore) -> None:
    account = await store.create_account(NewAccount(name="A"))
    listed = _numbers(0, 2000)[::2]
    assert await store.add_to_stop_list(account.id, listed) == 1000
    asked = _numbers(1000, 1000)
    with recorded_statements(store.engine) as statements:
        found = await store.stop_listed(account.id, asked)
    assert found == set(listed) & set(asked)
    assert len(found) == 500
    assert len([s for s in statements if "stop_list" in s]) == 1
    assert await store.stop_listed(account.id, []) == set()


async def test_stop_lists_need_an_existing_account(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.add_to_stop_list(12345, ["995599000001", "995599000002"])
