"""The databases the storage contract suite runs on, one fresh database per test.

Every test taking ``database`` (or ``store``) runs on SQLite in a file under ``tmp_path``, and
on PostgreSQL in a schema of its own (``t_<random>``, dropped afterwards) at
``MESIJI_TEST_POSTGRES_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``).
An unreachable PostgreSQL fails those tests, unless ``MESIJI_TEST_SKIP_POSTGRES=1``.

The message store's contract tests (``test_message_store_*.py``) run a third time on
:class:`~mesiji.storage.memory.MemoryMessageStore` (``memory``): there ``store`` and
``message_store`` are the same in-memory store, and the helpers of
:mod:`tests.storage.message_fixtures` read it directly. A test that needs SQL itself (its
statements, an engine, another process) takes ``database`` or is marked ``sql_only``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from mesiji.storage import SqlStore, create_engine, default_sqlite_url, open_store
from mesiji.storage.memory import MemoryMessageStore
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.testing import VirtualClock

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

T = TypeVar("T")


@dataclass(frozen=True)
class Database:
    """An empty database for one test: its URL and, on PostgreSQL, its schema."""

    kind: str
    url: str
    schema: str | None = None

    def engine(self, **options: Any) -> AsyncEngine:
        """A new engine on this database; the caller disposes of it."""
        return create_engine(self.url, schema=self.schema, **options)

    async def open_store(self, clock: VirtualClock | None = None, **options: Any) -> SqlStore:
        """A migrated store on this database; the caller closes it."""
        return await open_store(self.url, schema=self.schema, clock=clock, **options)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test on a ``database`` on both engines, and the message store's contract
    tests that need no SQL on the in-memory store too."""
    if "database" not in metafunc.fixturenames:
        return
    kinds = ["sqlite", "postgresql"]
    if _runs_in_memory(metafunc):
        kinds.append("memory")
    metafunc.parametrize("database", kinds, indirect=True)


def _runs_in_memory(metafunc: pytest.Metafunc) -> bool:
    return (
        metafunc.module.__name__.rpartition(".")[2].startswith("test_message_store_")
        and "database" not in inspect.signature(metafunc.function).parameters
        and metafunc.definition.get_closest_marker("sql_only") is None
    )


@pytest.fixture
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "memory":
        yield Database("memory", "memory:")
        return
    if request.param == "sqlite":
        yield Database("sqlite", default_sqlite_url(tmp_path))
        return
    url = postgres_url()
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        await _reachable(admin, url, f"CREATE SCHEMA {schema}")
        try:
            yield Database("postgresql", url, schema)
        finally:
            async with admin.begin() as conn:
                await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        await admin.dispose()


@pytest.fixture
async def postgres() -> str:
    """The URL of the test PostgreSQL server, for tests about PostgreSQL only."""
    url = postgres_url()
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        await _reachable(admin, url, "SELECT 1")
    finally:
        await admin.dispose()
    return url


def postgres_url() -> str:
    """The test PostgreSQL server's URL (read when a test asks, never at import)."""
    return os.environ.get("MESIJI_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


async def _reachable(admin: AsyncEngine, url: str, statement: str) -> None:
    try:
        async with admin.begin() as conn:
            await conn.execute(text(statement))
    except Exception as exc:  # refused, unknown database, bad credentials alike
        reason = f"PostgreSQL at {url} is not usable: {exc!r}"
        if os.environ.get("MESIJI_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(reason)
        pytest.fail(reason + " (set MESIJI_TEST_SKIP_POSTGRES=1 to skip)")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def store(database: Database, clock: VirtualClock) -> AsyncIterator[SqlStore]:
    if database.kind == "memory":
        # Stands in for both stores: the message fixtures' helpers know it.
        yield MemoryMessageStore()  # type: ignore[misc]
        return
    store = await database.open_store(clock)
    try:
        yield store
    finally:
        await store.close()


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def in_another_process(
    database: Database, work: Callable[[SqlMessageStore], Awaitable[T]]
) -> asyncio.Future[tuple[T | Exception, list[str]]]:
    """Run ``work`` as another gateway process would: its own engine, on a thread of its own.

    The outcome (or the exception ``work`` raised) comes with the statements it sent. A second
    writer must not share the test's thread: SQLite connections run inline (see
    mesiji.storage.inline_sqlite), so one waiting for the write lock blocks its whole thread.
    """

    def run() -> tuple[T | Exception, list[str]]:
        async def main() -> tuple[T | Exception, list[str]]:
            engine = database.engine(busy_timeout=30)
            try:
                with recorded_statements(engine) as statements:
                    outcome: T | Exception
                    try:
                        outcome = await work(SqlMessageStore(engine))
                    except Exception as exc:
                        outcome = exc
                return outcome, statements
            finally:
                await engine.dispose()

        return asyncio.run(main())

    return asyncio.ensure_future(asyncio.to_thread(run))


@pytest.fixture
def message_store(store: SqlStore) -> SqlMessageStore:
    """The message store on the same database as ``store`` (the in-memory store itself)."""
    if isinstance(store, MemoryMessageStore):
        return store  # type: ignore[return-value]
    return SqlMessageStore(store.engine)
