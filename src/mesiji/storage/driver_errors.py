"""Driver exceptions (SQLAlchemy, sqlite3, asyncpg, sockets) translated into storage errors.

The store wraps every database round trip in :func:`translated`, so what escapes it is either
one of :mod:`mesiji.storage.errors` (with the driver exception as ``__cause__``) or an error
the store raised on purpose.

Nothing a statement was given (message texts, numbers, secrets) is shown by what escapes:
the engines hide SQLAlchemy's parameters (:func:`mesiji.storage.engine.create_engine`), and
:func:`translate` makes the driver's own exception safe to log (see :func:`_redact`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from mesiji.storage.errors import Conflict, NotFound, StorageError, StorageUnavailable

__all__ = ["translate", "translated"]

# SQLite primary result codes (https://sqlite.org/rescode.html) that describe the moment, not
# the request: another writer holds the lock, the disk is full or failing, the file cannot be
# opened right now.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_NOMEM = 7
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_PROTOCOL = 15
_SQLITE_TRANSIENT = frozenset(
    {
        _SQLITE_BUSY,
        _SQLITE_LOCKED,
        _SQLITE_NOMEM,
        _SQLITE_IOERR,
        _SQLITE_FULL,
        _SQLITE_CANTOPEN,
        _SQLITE_PROTOCOL,
    }
)
_SQLITE_CONSTRAINT = 19
_SQLITE_CONSTRAINT_FOREIGNKEY = 787

# PostgreSQL SQLSTATEs (PostgreSQL manual, appendix A). Class 08: connection exception; 53:
# insufficient resources (disk full, out of memory, too many connections); 57P01-57P03:
# shutdown or not accepting connections yet; 40001/40P01: serialization failure and deadlock,
# which the server itself says to retry; 55P03: lock not available; 57014: statement timeout;
# 58030: I/O error.
_PG_TRANSIENT_CLASSES = frozenset({"08", "53"})
_PG_TRANSIENT_STATES = frozenset(
    {"57P01", "57P02", "57P03", "40001", "40P01", "55P03", "57014", "58030"}
)
_PG_FOREIGN_KEY_VIOLATION = "23503"
_PG_INTEGRITY_CLASS = "23"


# asyncpg checks arguments before sending them, quoting the one it refuses:
# "invalid input for query argument $2: 'text' (expected ...)".
_ARGUMENT = re.compile(
    r"(invalid input for query argument \$\d+): .*?(?: \(([^()]*)\))?$", re.DOTALL
)
# PostgreSQL's data exceptions (SQLSTATE class 22) quote the input they could not take:
# 'invalid input syntax for type integer: "..."', 'value "..." is out of range'.
_PG_DATA_EXCEPTION_CLASS = "22"


def translate(exc: BaseException) -> StorageError | None:
    """The storage error that ``exc`` means, or None when ``exc`` is not a driver exception.

    A foreign key violation means the referenced row is missing (:class:`NotFound`); every
    other constraint violation is a :class:`Conflict`.
    """
    if isinstance(exc, StorageError):
        return None
    if isinstance(exc, sa_exc.DBAPIError):
        _redact(exc)
    if isinstance(exc, sa_exc.TimeoutError):
        return StorageUnavailable(f"no database connection free in time: {exc}")
    if isinstance(exc, OSError):
        # asyncpg lets socket errors (refused, unreachable, timed out) through unwrapped.
        return StorageUnavailable(f"database unreachable: {exc}")
    if not isinstance(exc, sa_exc.DBAPIError):
        if isinstance(exc, sa_exc.SQLAlchemyError):
            return StorageError(str(exc))
        return None
    message = str(exc.orig) if exc.orig is not None else str(exc)
    if exc.connection_invalidated:
        return StorageUnavailable(f"database connection lost: {message}")
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return _from_sqlite(sqlite_code, message)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return _from_postgres(sqlstate, message)
    if isinstance(exc, sa_exc.IntegrityError):
        return Conflict(message)
    return StorageError(message)


def _redact(exc: sa_exc.DBAPIError) -> None:
    """Take statement values out of a driver exception, in place, before it is shown.

    asyncpg's exceptions print their DETAIL and HINT ("Key (name)=(...) already exists.",
    "Failing row contains (...)"): SQLAlchemy's adapter raises its own exception from them,
    and that one is all a traceback needs, so the chain is cut below it. Its message is
    rewritten where it quotes a value (asyncpg's argument checks, PostgreSQL's data
    exceptions). SQLite's messages name tables and constraints, never values.
    """
    orig = exc.orig
    if orig is None:
        return
    orig.__cause__ = None
    orig.__suppress_context__ = True
    message = str(orig)
    sqlstate = getattr(orig, "sqlstate", None)
    argument = _ARGUMENT.match(message)
    if argument is not None:
        safe = argument[1] + (f" ({argument[2]})" if argument[2] else "")
    elif isinstance(sqlstate, str) and sqlstate[:2] == _PG_DATA_EXCEPTION_CLASS:
        safe = f"invalid data (SQLSTATE {sqlstate})"
    else:
        return
    orig.args = (safe,)
    # SQLAlchemy wrote the driver's message into its own when it wrapped it.
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (exc.args[0].replace(message, safe), *exc.args[1:])


def _from_sqlite(code: int, message: str) -> StorageError:
    if code & 0xFF in _SQLITE_TRANSIENT:
        return StorageUnavailable(message)
    if code == _SQLITE_CONSTRAINT_FOREIGNKEY:
        return NotFound(f"referenced row does not exist: {message}")
    if code & 0xFF == _SQLITE_CONSTRAINT:
        return Conflict(message)
    return StorageError(message)


def _from_postgres(sqlstate: str, message: str) -> StorageError:
    if sqlstate in _PG_TRANSIENT_STATES or sqlstate[:2] in _PG_TRANSIENT_CLASSES:
        return StorageUnavailable(message)
    if sqlstate == _PG_FOREIGN_KEY_VIOLATION:
        return NotFound(f"referenced row does not exist: {message}")
    if sqlstate[:2] == _PG_INTEGRITY_CLASS:
        return Conflict(message)
    return StorageError(message)


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise driver exceptions escaping the block as storage errors (``from`` the original)."""
    try:
        yield
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from exc
