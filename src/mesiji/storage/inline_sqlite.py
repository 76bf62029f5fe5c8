"""SQLite for SQLAlchemy's asyncio engine, run on the event loop's own thread.

SQLAlchemy's ``sqlite+aiosqlite`` dialect drives a connection through aiosqlite's worker
thread: every statement, fetch and commit is a round trip to that thread and back through the
event loop. A gateway statement takes microseconds in SQLite, and the round trip cost more
than the statement (measured in docs/performance.md). :func:`connect` opens a plain
:mod:`sqlite3` connection behind the small awaitable interface the dialect expects, and runs
each call at once on the caller's thread.

Consequences the engine relies on (:mod:`mesiji.storage.engine`):

* a transaction never yields to the event loop between its statements, so two transactions
  of this process never interleave: there is one writer at a time by construction, and
  SQLite's busy handler only waits for other processes (the CLI);
* the loop is busy while a statement runs: the longest are group commits of large batches
  (milliseconds) and the fsync of each commit.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

__all__ = ["InlineConnection", "connect"]


class InlineCursor:
    """A :class:`sqlite3.Cursor` with awaitable methods that complete at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(
        self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]
    ) -> InlineCursor:
        self._cursor.executemany(sql, seq_of_parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """A :class:`sqlite3.Connection` shaped like the aiosqlite connection SQLAlchemy drives."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection

    @property
    def _connection(self) -> sqlite3.Connection | None:
        # The dialect checks it before a commit or rollback: None once closed.
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            # The message the dialect recognizes as a closed connection (a disconnect).
            raise sqlite3.OperationalError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open().cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        return InlineCursor(self._open().execute(sql, parameters))

    async def commit(self) -> None:
        self._open().commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (the dialect's forced termination)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def connect(path: str) -> InlineConnection:
    """Open the database file at ``path``.

    Autocommit mode (``isolation_level=None``): the engine emits BEGIN itself, so reads are
    repeatable and migrations atomic (the sqlite3 module's legacy mode begins no transaction
    before a SELECT or DDL).

    A database file created here is readable by its owner alone (0600), and so are its
    ``-wal`` and ``-shm`` files: SQLite creates them with the database file's permissions
    (``findCreateFileMode`` in its unix VFS). An existing file keeps its mode.
    """
    if path != ":memory:" and not path.startswith("file:"):
        _create_private(path)
    return InlineConnection(sqlite3.connect(path, isolation_level=None))


def _create_private(path: str) -> None:
    # O_EXCL: only a file this call creates gets the mode (the umask can only narrow it). If
    # the file exists, or cannot be made, sqlite3.connect opens it or reports why not.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
