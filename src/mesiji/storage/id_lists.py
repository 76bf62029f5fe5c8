"""``id IN (...)`` for lists of row ids, bound as one parameter on both engines.

The integer counterpart of :func:`mesiji.storage.dialects.one_of`: the pipeline updates
hundreds of parts or messages by id at a time, and an expanded ``IN (?, ?, ...)`` would make
a new statement for every list length and meet SQLite's parameter limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import BigInteger, ColumnElement, Text, any_, func, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["ids_in"]


def ids_in(
    conn: AsyncConnection, column: ColumnElement[int], ids: Sequence[int]
) -> ColumnElement[bool]:
    """``column IN ids`` for the database behind ``conn``, the whole list one parameter."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(ids), postgresql.ARRAY(BigInteger)))
    items = func.json_each(literal(json.dumps(list(ids)), Text)).table_valued("value")
    return column.in_(select(items.c.value))
