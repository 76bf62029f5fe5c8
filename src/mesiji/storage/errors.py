"""The storage branch of the error tree (see :mod:`mesiji.errors`)::

    MesijiError
    └── StorageError                   the database could not do what was asked
        ├── StorageUnavailable         locked, full, unreachable: try again later (503)
        ├── Conflict                   the change clashes with data already stored
        └── NotFound                   the row the operation is about does not exist

A debit larger than the balance raises :class:`mesiji.domain.credits.InsufficientBalance`
(re-exported here): a business rule the store enforces atomically, not a storage failure.

Adapters translate driver exceptions into these at their boundary with ``raise ... from exc``,
so services never see SQLAlchemy, sqlite3 or asyncpg types.
"""

from __future__ import annotations

from mesiji.domain.credits import InsufficientBalance
from mesiji.errors import MesijiError

__all__ = ["Conflict", "InsufficientBalance", "NotFound", "StorageError", "StorageUnavailable"]


class StorageError(MesijiError):
    """The database could not do what was asked (and the reason is none of the subclasses)."""


class StorageUnavailable(StorageError):  # noqa: N818 -- the names the API speaks
    """The database cannot serve now: locked, disk full, connection refused or lost.

    The same operation may succeed later; the HTTP layer answers 503.
    """

    transient = True


class Conflict(StorageError):  # noqa: N818 -- the names the API speaks
    """The change clashes with stored data (a unique key already taken, a constraint)."""


class NotFound(StorageError):  # noqa: N818 -- the names the API speaks
    """The row an operation is about (or one it must refer to) does not exist."""
