"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["ID", "UtcDateTime"]

#: Surrogate keys: BIGINT (BIGSERIAL) on PostgreSQL; on SQLite only a column declared exactly
#: ``INTEGER PRIMARY KEY`` becomes the rowid and autoincrements (https://sqlite.org/lang_createtable.html#rowid).
ID: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored as UTC and always returned timezone-aware (UTC).

    PostgreSQL stores ``timestamptz``. SQLite has no time type: SQLAlchemy stores text in a
    fixed-width format that sorts chronologically, but drops the offset, so values are
    converted to UTC before they are written and read back as UTC. Naive datetimes are
    refused: their meaning depends on the machine that made them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
