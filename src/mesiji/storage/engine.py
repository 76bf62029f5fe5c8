"""Async engines for the two supported databases, configured for a gateway's durability needs.

* ``sqlite+aiosqlite:///path/mesiji.db`` -- one process, a small provider.
* ``postgresql+asyncpg://user@host/db`` -- several ``mesiji serve`` processes sharing work.

``sqlite:///...`` and ``postgresql://...`` are accepted and given the async driver.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from mesiji.errors import ConfigError
from mesiji.storage import inline_sqlite

__all__ = ["WRITE", "create_engine", "default_sqlite_url"]

#: Execution options for a connection that is about to write. On SQLite its transactions start
#: with ``BEGIN IMMEDIATE``, taking the write lock up front (waiting up to ``busy_timeout``):
#: a deferred transaction that reads and then writes cannot wait for the lock, because another
#: writer may have committed since its snapshot; it fails at once with SQLITE_BUSY.
#: PostgreSQL ignores the option.
_WRITE_OPTION = "mesiji_write"
WRITE: Mapping[str, Any] = MappingProxyType({_WRITE_OPTION: True})

_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def create_engine(
    url: str,
    *,
    busy_timeout: float = 5.0,
    pool_size: int | None = None,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    schema: str | None = None,
) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``url``, tuned for the gateway.

    ``busy_timeout`` (SQLite) is how long a writer waits for another to finish before the
    operation fails as :class:`~mesiji.storage.errors.StorageUnavailable`. ``pool_size``
    (default: 1 on SQLite, 10 on PostgreSQL), ``max_overflow`` (PostgreSQL only),
    ``pool_timeout`` size the connection pool; ``connect_timeout`` and
    ``schema`` (the ``search_path``) apply to PostgreSQL. Unsupported URLs raise
    :class:`~mesiji.errors.ConfigError`.

    Statement parameters (message texts, numbers, secrets) are left out of SQLAlchemy's
    exception messages, which end up in logs and tracebacks.
    """
    parsed = _async_url(url)
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise ConfigError("a schema can only be chosen on PostgreSQL")
        path = parsed.database or ":memory:"
        # Statements run on the event loop's thread (see mesiji.storage.inline_sqlite): no
        # thread round trip per statement, and this process's transactions never interleave.
        # One connection is then enough: tasks wanting the database queue for it in asyncio,
        # and each further connection would only hold its own page cache (measured: 5
        # connections opened under the peer benchmark, 2.7 MiB more peak RSS, fewer msg/s).
        engine = create_async_engine(
            parsed,
            hide_parameters=True,
            async_creator=lambda: inline_sqlite.connect(path),
            pool_size=pool_size or 1,
            max_overflow=0,
            pool_timeout=pool_timeout,
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    server_settings = {"application_name": "mesiji"}
    if schema is not None:
        server_settings["search_path"] = schema
    pool: dict[str, Any] = {
        "pool_size": pool_size or 10,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
    }
    return create_async_engine(
        parsed,
        hide_parameters=True,
        # A pooled connection may have died with a server restart; test it before use
        # instead of failing the request that draws it.
        pool_pre_ping=True,
        connect_args={"timeout": connect_timeout, "server_settings": server_settings},
        **pool,
    )


def default_sqlite_url(data_dir: Path) -> str:
    """The URL of ``mesiji.db`` in ``data_dir``, creating the directory if it is missing.

    A directory created here is the owner's alone (0700): the database holds message texts,
    numbers and webhook secrets. An existing directory keeps the mode its owner gave it.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = (data_dir / "mesiji.db").resolve()
    return URL.create("sqlite+aiosqlite", database=str(path)).render_as_string()


def _async_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    driver = _DRIVERS.get(backend)
    shown = parsed.render_as_string(hide_password=True)
    if driver is None:
        raise ConfigError(f"unsupported database {shown}: use SQLite or PostgreSQL")
    if parsed.drivername == backend:
        return parsed.set(drivername=f"{backend}+{driver}")
    if parsed.get_driver_name() != driver:
        raise ConfigError(f"unsupported driver in {shown}: use {backend}+{driver}")
    return parsed


def _configure_sqlite(engine: AsyncEngine, busy_timeout: float) -> None:
    busy_ms = max(0, round(busy_timeout * 1000))

    def on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        # The connection is in autocommit mode (inline_sqlite.connect): SQLAlchemy emits
        # BEGIN itself (see on_begin).
        cursor = dbapi_connection.cursor()
        try:
            # Wait for the write lock instead of failing at once when another process holds
            # it; only after busy_timeout does the caller see StorageUnavailable. (This
            # process's transactions never overlap: see mesiji.storage.inline_sqlite.)
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            # Write-ahead log: readers never block the writer nor the writer the readers, so
            # the HTTP API keeps answering while dispatchers and receipts write.
            _use_wal(cursor)
            # fsync the WAL at every commit. NORMAL (the usual WAL choice) may lose the last
            # transactions on power loss; a message must be durable once its 2xx is sent.
            cursor.execute("PRAGMA synchronous = FULL")
            # SQLite leaves foreign keys unenforced unless each connection asks.
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    def on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", on_begin)


def _use_wal(cursor: DBAPICursor) -> None:
    # Converting a database to WAL takes an exclusive lock. When several connections try at
    # once, SQLite refuses the losers with SQLITE_BUSY at once, without waiting (a waiting
    # holder of a shared lock could deadlock). The winner converts the file for everyone, so
    # a loser reads the mode again, which waits (busy_timeout) until the winner is done.
    for attempt in range(3):
        cursor.execute("PRAGMA journal_mode")
        row = cursor.fetchone()
        if row is not None and row[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.fetchone()
        except sqlite3.OperationalError:
            if attempt == 2:
                raise
        else:
            return
