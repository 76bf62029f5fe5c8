"""The ``mesiji`` command run in process against a real database, SQLite or PostgreSQL.

``mesiji_db`` runs each test twice: on SQLite under ``tmp_path`` and on PostgreSQL in a schema
of its own (as tests/storage/conftest.py does; the command itself cannot choose a schema, so
the tests hand it a store opened in theirs).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from mesiji.bootstrap import database_url
from mesiji.cli import main, stores
from mesiji.settings import Settings
from mesiji.storage.engine import create_engine
from mesiji.storage.sql import SqlStore, open_store

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
T = TypeVar("T")
TABLES = ("accounts", "api_keys", "senders", "stop_list", "balance_ledger", "messages")


@dataclass(frozen=True)
class Ran:
    """What one ``mesiji`` run did: its exit status and what it printed."""

    status: int
    out: str
    err: str


@dataclass
class Mesiji:
    """Runs ``mesiji`` with ``--config`` on the test's database, and reads that database."""

    config: Path
    url: str
    schema: str | None
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str) -> Ran:
        """``mesiji GROUP COMMAND --config ... ARGS``; ``args[:2]`` names the command."""
        status = main([*args[:2], "--config", str(self.config), *args[2:]])
        captured = self.capsys.readouterr()
        return Ran(status, captured.out, captured.err)

    def counts(self) -> dict[str, int]:
        """Rows per table: what a refused command must leave unchanged."""
        return {table: self.rows(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows ``sql`` reads from the test's database."""

        async def read() -> list[tuple[Any, ...]]:
            engine = create_engine(self.url, schema=self.schema)
            try:
                async with engine.connect() as conn:
                    return [tuple(row) for row in await conn.execute(sa.text(sql))]
            finally:
                await engine.dispose()

        return asyncio.run(read())

    def using_store(self, work: Callable[[SqlStore], Awaitable[T]]) -> T:
        """``work`` done on a store of the same database (to set up what a test reads)."""

        async def run() -> T:
            async with await open_store(self.url, schema=self.schema) as store:
                return await work(store)

        return asyncio.run(run())


def refused(ran: Ran, message: str) -> None:
    """A refusal as ``mesiji`` must give it: status 1, one line on stderr, no traceback."""
    assert ran.status == 1, ran
    assert "Traceback" not in ran.err
    assert ran.err.count("\n") == 1, ran.err
    assert ran.err.startswith("error: "), ran.err
    assert message in ran.err, ran.err


@pytest.fixture(params=["sqlite", "postgresql"])
def mesiji_db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Mesiji]:
    config = tmp_path / "mesiji.toml"
    if request.param == "sqlite":
        config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
        url = database_url(Settings(data_dir=tmp_path / "data"))
        yield Mesiji(config, url, None, capsys)
        return
    url = os.environ.get("MESIJI_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    schema = f"t_{secrets.token_hex(6)}"
    try:
        asyncio.run(_execute(url, f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # refused, unknown database, bad credentials alike
        reason = f"PostgreSQL at {url} is not usable: {exc!r}"
        if os.environ.get("MESIJI_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(reason)
        pytest.fail(reason + " (set MESIJI_TEST_SKIP_POSTGRES=1 to skip)")
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")

    async def in_schema(settings: Settings) -> SqlStore:
        return await open_store(database_url(settings), schema=schema)

    monkeypatch.setattr(stores, "open_command_store", in_schema)
    try:
        yield Mesiji(config, url, schema, capsys)
    finally:
        asyncio.run(_execute(url, f"DROP SCHEMA {schema} CASCADE"))


async def _execute(url: str, statement: str) -> None:
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await admin.dispose()
