"""The few statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, Table, Text, any_, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert", "one_of"]

_T = TypeVar("_T", str, int)


def insert(dialect_name: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can take ``ON CONFLICT`` clauses (both engines spell them the same)."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def one_of(
    dialect_name: str, column: ColumnElement[_T], values: Sequence[_T]
) -> ColumnElement[bool]:
    """``column IN values`` with the whole list bound as one parameter.

    An expanded ``IN (?, ?, ...)`` makes a different statement for every list length (no
    reuse of prepared statements) and runs into parameter limits with long lists (the pipeline
    updates hundreds of parts by id at a time); a single array of the column's type
    (PostgreSQL) or JSON text (SQLite's ``json_each``) does neither.
    """
    if dialect_name == "postgresql":
        return column == any_(literal(list(values), postgresql.ARRAY(column.type)))
    items = func.json_each(literal(json.dumps(list(values)), Text)).table_valued("value")
    return column.in_(select(items.c.value))
