"""Alembic environment for Mesiji's schema.

:mod:`mesiji.storage.migrate` hands over an open connection in ``config.attributes``; the
``alembic`` command line (``alembic -c <ini> revision --autogenerate``) instead sets
``sqlalchemy.url`` in its ini file, and runs on an async engine of its own.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from mesiji.errors import ConfigError
from mesiji.storage.engine import WRITE, create_engine
from mesiji.storage.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(**WRITE)
            async with conn.begin():
                await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise ConfigError("set sqlalchemy.url, or run migrations with mesiji.storage.migrate")
    if context.is_offline_mode():
        _run_offline(url)
    else:
        asyncio.run(_run_on_url(url))


_main()
