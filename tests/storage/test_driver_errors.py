"""Driver exceptions map to storage errors by SQLite result code or PostgreSQL SQLSTATE."""

from __future__ import annotations

import logging
import sqlite3
import traceback

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from mesiji.storage import Conflict, NotFound, StorageError, StorageUnavailable
from mesiji.storage.driver_errors import translate, translated
from tests.storage.conftest import Database


class _PostgresError(Exception):
    """Stands in for asyncpg's errors as SQLAlchemy wraps them: they carry ``sqlstate``."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def _sqlite(code: int) -> sa_exc.DBAPIError:
    orig = sqlite3.OperationalError(f"result code {code}")
    orig.sqlite_errorcode = code
    return sa_exc.OperationalError("SELECT 1", None, orig)


def _postgres(sqlstate: str) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, _PostgresError(sqlstate))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (5, StorageUnavailable),  # SQLITE_BUSY: the database is locked
        (517, StorageUnavailable),  # SQLITE_BUSY_SNAPSHOT
        (6, StorageUnavailable),  # SQLITE_LOCKED
        (10, StorageUnavailable),  # SQLITE_IOERR
        (13, StorageUnavailable),  # SQLITE_FULL: database or disk is full
        (14, StorageUnavailable),  # SQLITE_CANTOPEN
        (787, NotFound),  # SQLITE_CONSTRAINT_FOREIGNKEY
        (2067, Conflict),  # SQLITE_CONSTRAINT_UNIQUE
        (275, Conflict),  # SQLITE_CONSTRAINT_CHECK
        (1, StorageError),  # SQLITE_ERROR: e.g. no such table
    ],
)
def test_sqlite_result_codes(code: int, expected: type[StorageError]) -> None:
    error = translate(_sqlite(code))
    assert type(error) is expected
    assert error.transient is (expected is StorageUnavailable)


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("08006", StorageUnavailable),  # connection failure
        ("53100", StorageUnavailable),  # disk full
        ("53300", StorageUnavailable),  # too many connections
        ("57P01", StorageUnavailable),  # admin shutdown
        ("57P03", StorageUnavailable),  # cannot connect now (starting up)
        ("40001", StorageUnavailable),  # serialization failure
        ("40P01", StorageUnavailable),  # deadlock detected
        ("55P03", StorageUnavailable),  # lock not available
        ("23503", NotFound),  # foreign key violation
        ("23505", Conflict),  # unique violation
        ("23514", Conflict),  # check violation
        ("42P01", StorageError),  # undefined table
        ("3D000", StorageError),  # database does not exist
    ],
)
def test_postgresql_sqlstates(sqlstate: str, expected: type[StorageError]) -> None:
    assert type(translate(_postgres(sqlstate))) is expected


def test_sockets_and_pool_timeouts_are_unavailable() -> None:
    assert isinstance(translate(ConnectionRefusedError(111, "refused")), StorageUnavailable)
    assert isinstance(translate(TimeoutError()), StorageUnavailable)
    assert isinstance(translate(sa_exc.TimeoutError("pool exhausted")), StorageUnavailable)


def test_other_exceptions_pass_through() -> None:
    assert translate(ValueError("a bug")) is None
    assert translate(NotFound("already translated")) is None
    with pytest.raises(ValueError, match="a bug"), translated():
        raise ValueError("a bug")


def test_translated_chains_the_driver_exception() -> None:
    original = _sqlite(5)
    with pytest.raises(StorageUnavailable) as caught, translated():
        raise original
    assert caught.value.__cause__ is original


SECRET_TEXT = "secret text of 995599123456"
SECRET_NUMBER = 995_599_123_456_000_000_000_000


@pytest.mark.parametrize(
    ("statement", "value"),
    [
        # A unique violation: PostgreSQL's DETAIL names the duplicate key.
        ("INSERT INTO t (x) VALUES (:v)", SECRET_TEXT),
        # A value the column's type cannot hold: asyncpg quotes the argument it refuses.
        ("INSERT INTO t (x, n) VALUES ('other', :v)", SECRET_TEXT),
        ("INSERT INTO t (x, n) VALUES ('other', :v)", SECRET_NUMBER),
        # PostgreSQL's data exceptions quote the input they could not read.
        ("SELECT CAST(CAST(:v AS TEXT) AS TIMESTAMP)", SECRET_TEXT),
    ],
)
async def test_errors_and_their_logs_do_not_show_statement_values(
    database: Database, caplog: pytest.LogCaptureFixture, statement: str, value: object
) -> None:
    engine = database.engine()
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TEMPORARY TABLE t (x TEXT UNIQUE, n INTEGER)"))
            await conn.execute(text("INSERT INTO t (x) VALUES (:v)"), {"v": SECRET_TEXT})
            try:
                with translated():
                    await conn.execute(text(statement), {"v": value})
            except Exception as exc:
                logging.getLogger("mesiji.test").exception("the statement failed")
                shown = "".join(traceback.format_exception(exc))
            else:
                # SQLite takes text in an INTEGER column and casts anything.
                assert database.kind == "sqlite"
                return
    finally:
        await engine.dispose()
    assert "Traceback" in caplog.text
    for secret in ("995599", SECRET_TEXT):
        assert secret not in shown
        assert secret not in caplog.text
