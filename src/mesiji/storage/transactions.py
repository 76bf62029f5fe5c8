"""The two kinds of transaction every SQL store opens, with driver errors translated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesiji.storage.driver_errors import translated
from mesiji.storage.engine import WRITE


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read transaction (on SQLite a deferred BEGIN: WAL readers never wait)."""
    with translated():
        async with engine.connect() as conn, conn.begin():
            yield conn


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction (on SQLite BEGIN IMMEDIATE, so a read-then-write waits its turn
    for the lock at the start instead of failing at its first write)."""
    with translated():
        async with engine.connect() as conn:
            await conn.execution_options(**WRITE)
            async with conn.begin():
                yield conn
