"""Storage: the ports the gateway needs and their SQL adapter (SQLite and PostgreSQL).

- :mod:`mesiji.storage.ports` -- what services need from storage, as protocols
- :mod:`mesiji.storage.records` -- the frozen records those protocols take and return
- :mod:`mesiji.storage.errors` -- ``StorageError`` and its branches
- :mod:`mesiji.storage.sql` -- :class:`SqlStore` and :func:`open_store`
- :mod:`mesiji.storage.engine` -- async engines configured for the gateway
- :mod:`mesiji.storage.schema` -- the tables; :mod:`mesiji.storage.migrate` brings a database
  to them with the Alembic scripts in ``migrations/``
"""

from __future__ import annotations

from mesiji.storage.engine import create_engine, default_sqlite_url
from mesiji.storage.errors import (
    Conflict,
    InsufficientBalance,
    NotFound,
    StorageError,
    StorageUnavailable,
)
from mesiji.storage.migrate import run_migrations, upgrade
from mesiji.storage.ports import Accounts, AccountStore, ApiKeys, Senders, StopList
from mesiji.storage.records import (
    Account,
    AccountStatus,
    ApiKey,
    NewAccount,
    Sender,
    SenderStatus,
)
from mesiji.storage.sql import SqlStore, open_store

__all__ = [
    "Account",
    "AccountStatus",
    "AccountStore",
    "Accounts",
    "ApiKey",
    "ApiKeys",
    "Conflict",
    "InsufficientBalance",
    "NewAccount",
    "NotFound",
    "Sender",
    "SenderStatus",
    "Senders",
    "SqlStore",
    "StopList",
    "StorageError",
    "StorageUnavailable",
    "create_engine",
    "default_sqlite_url",
    "open_store",
    "run_migrations",
    "upgrade",
]
