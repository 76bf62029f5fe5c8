"""A database that cannot serve surfaces as StorageUnavailable (transient), nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import make_url

from mesiji.storage import (
    NewAccount,
    SqlStore,
    StorageError,
    StorageUnavailable,
    create_engine,
    default_sqlite_url,
    open_store,
)

UNREACHABLE_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/test"


async def test_a_locked_sqlite_database_is_unavailable(tmp_path: Path) -> None:
    url = default_sqlite_url(tmp_path)
    async with await open_store(url) as setup:
        account = await setup.create_account(NewAccount(name="A"))
    store = SqlStore(create_engine(url, busy_timeout=0.05), owns_engine=True)
    # Another process holding the write lock, e.g. a long transaction or a backup.
    blocker = sqlite3.connect(tmp_path / "mesiji.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageUnavailable) as caught:
            await store.add_credits(account.id, 10, "top-up")
        assert caught.value.transient
        assert isinstance(caught.value.__cause__, Exception)
        # In WAL mode readers are not blocked by the writer.
        stored = await store.get_account(account.id)
        assert stored is not None
        assert stored.balance == 0
        blocker.execute("ROLLBACK")
        assert await store.add_credits(account.id, 10, "top-up") == 10
    finally:
        blocker.close()
        await store.close()


async def test_opening_an_unreachable_postgresql_is_unavailable() -> None:
    with pytest.raises(StorageUnavailable) as caught:
        await open_store(UNREACHABLE_POSTGRES)
    assert caught.value.transient
    assert isinstance(caught.value.__cause__, OSError)


async def test_using_an_unreachable_postgresql_is_unavailable() -> None:
    async with SqlStore(create_engine(UNREACHABLE_POSTGRES), owns_engine=True) as store:
        with pytest.raises(StorageUnavailable):
            await store.get_account(1)
        with pytest.raises(StorageUnavailable):
            await store.add_credits(1, 1, "top-up")


async def test_a_missing_postgresql_database_is_not_transient(postgres: str) -> None:
    # A wrong database name is a configuration mistake: retrying will not help.
    url = make_url(postgres).set(database="mesiji_no_such_database")
    with pytest.raises(StorageError) as caught:
        await open_store(url.render_as_string(hide_password=False))
    assert not isinstance(caught.value, StorageUnavailable)
