"""Engine settings: SQLite pragmas, accepted URLs, the default database file, UTC times."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from mesiji.errors import ConfigError
from mesiji.storage import create_engine, default_sqlite_url
from mesiji.storage.types import UtcDateTime


async def test_sqlite_connections_are_durable_and_patient(tmp_path: Path) -> None:
    engine = create_engine(default_sqlite_url(tmp_path), busy_timeout=2.5)
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()
    # synchronous 2 is FULL.
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 2500,
    }


def test_the_default_database_lives_in_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "mesiji"
    url = default_sqlite_url(data_dir)
    assert data_dir.is_dir()
    assert url == f"sqlite+aiosqlite:///{data_dir / 'mesiji.db'}"


async def test_urls_without_a_driver_get_the_async_one() -> None:
    for url, driver in (
        ("sqlite:///mesiji.db", "sqlite+aiosqlite"),
        ("postgresql://mesiji@db.example/mesiji", "postgresql+asyncpg"),
    ):
        engine = create_engine(url)
        assert engine.url.drivername == driver
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@localhost/mesiji",
        "sqlite+pysqlite:///mesiji.db",
        "postgresql+psycopg2://mesiji@db.example/mesiji",
        "not a url",
    ],
)
def test_unsupported_urls_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        create_engine(url)


def test_a_schema_is_a_postgresql_option() -> None:
    with pytest.raises(ConfigError):
        create_engine("sqlite:///mesiji.db", schema="mesiji")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2026, 1, 1), sqlite.dialect())  # noqa: DTZ001


def test_datetimes_read_back_in_utc() -> None:
    dialect = sqlite.dialect()
    naive_from_sqlite = datetime(2026, 1, 1, 12)  # noqa: DTZ001 - what SQLite hands back
    read = UtcDateTime().process_result_value(naive_from_sqlite, dialect)
    assert read == datetime(2026, 1, 1, 12, tzinfo=UTC)
    tbilisi = datetime(2026, 1, 1, 16, tzinfo=timezone(timedelta(hours=4)))
    read = UtcDateTime().process_result_value(tbilisi, dialect)
    assert read == tbilisi
    assert read is not None
    assert read.tzinfo is UTC


async def test_the_database_is_created_readable_by_its_owner_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "mesiji"
    engine = create_engine(default_sqlite_url(data_dir))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            names = {path.name: path.stat().st_mode & 0o777 for path in data_dir.iterdir()}
    finally:
        await engine.dispose()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    # The write-ahead log and its index exist while a connection is open.
    assert names == {"mesiji.db": 0o600, "mesiji.db-wal": 0o600, "mesiji.db-shm": 0o600}


async def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "mesiji.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
