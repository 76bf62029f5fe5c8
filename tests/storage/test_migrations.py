"""Migrations build exactly the schema of ``mesiji.storage.schema``, once, on both engines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Column, Connection, Integer, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mesiji.storage import NewAccount, StorageError, run_migrations, upgrade
from mesiji.storage.migrate import HEAD_REVISION, alembic_config, current_revision
from mesiji.storage.schema import NAMING_CONVENTION, metadata
from tests.storage.conftest import Database


def _differences(connection: Connection, target: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, target))


async def _table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migrations_build_an_empty_database(database: Database) -> None:
    engine = database.engine()
    try:
        assert await current_revision(engine) is None
        await run_migrations(engine)
        assert await current_revision(engine) == HEAD_REVISION
        assert await _table_names(engine) == {*metadata.tables, "alembic_version"}
    finally:
        await engine.dispose()


async def test_migrating_again_changes_nothing(database: Database) -> None:
    store = await database.open_store()
    try:
        account = await store.create_account(NewAccount(name="Kept"))
        await run_migrations(store.engine)
        await upgrade(database.url, schema=database.schema)
        assert await current_revision(store.engine) == HEAD_REVISION
        assert await store.get_account(account.id) == account
    finally:
        await store.close()


async def test_a_database_from_a_newer_version_is_a_storage_error(database: Database) -> None:
    store = await database.open_store()
    try:
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
        with pytest.raises(StorageError, match="newer Mesiji"):
            await run_migrations(store.engine)
    finally:
        await store.close()


async def test_concurrent_starts_migrate_once(database: Database) -> None:
    # Several `mesiji serve` processes starting together on one database.
    engines = [database.engine() for _ in range(3)]
    try:
        await asyncio.gather(*(run_migrations(engine) for engine in engines))
        assert await current_revision(engines[0]) == HEAD_REVISION
    finally:
        for engine in engines:
            await engine.dispose()


async def test_migrated_schema_matches_metadata(database: Database) -> None:
    store = await database.open_store()
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(_differences, metadata) == []
            # The comparison must be able to see a difference at all.
            changed = MetaData(naming_convention=NAMING_CONVENTION)
            for table in metadata.sorted_tables:
                table.to_metadata(changed)
            changed.tables["parts"].append_column(Column("extra", Integer))
            assert await conn.run_sync(_differences, changed) != []
    finally:
        await store.close()


async def test_check_constraints_are_named_as_in_metadata(database: Database) -> None:
    # Alembic's comparison ignores CHECK constraints; names are what later migrations use.
    def reflected(connection: Connection) -> dict[str, set[str | None]]:
        inspector = inspect(connection)
        return {
            table: {check["name"] for check in inspector.get_check_constraints(table)}
            for table in metadata.tables
        }

    expected = {
        name: {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        for name, table in metadata.tables.items()
    }
    store = await database.open_store()
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(reflected) == expected
    finally:
        await store.close()


async def test_downgrade_removes_every_table(database: Database) -> None:
    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    engine = database.engine()
    try:
        await run_migrations(engine)
        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        assert await _table_names(engine) == {"alembic_version"}
        assert await current_revision(engine) is None
    finally:
        await engine.dispose()


def test_the_head_revision_constant_is_the_scripts_head() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION
