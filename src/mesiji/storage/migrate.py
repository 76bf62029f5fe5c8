"""Schema migrations (Alembic), run from code: the app at start, the tests on fresh databases.

The scripts live in ``migrations/`` inside the package. :func:`run_migrations` is safe when
several processes start at once: on PostgreSQL they queue on an advisory lock, on SQLite on the
write lock, and whoever comes second finds the schema already current.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mesiji.storage import transactions
from mesiji.storage.driver_errors import translated
from mesiji.storage.engine import create_engine
from mesiji.storage.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "alembic_config", "current_revision", "run_migrations", "upgrade"]

#: The newest migration shipped (a test checks it against the scripts). A database already
#: there is recognized with one query, and Alembic is not even imported: it would add about
#: 9 MiB to every gateway process for a check that finds nothing to do.
HEAD_REVISION = "0002"

# Any constant works; all Mesiji processes on one database must use the same one.
_PG_MIGRATION_LOCK = 0x6D65_736A_6930_0001


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged scripts (no ``alembic.ini`` needed)."""
    from alembic.config import Config  # noqa: PLC0415 -- see HEAD_REVISION

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.set_main_option("path_separator", "os")
    return config


async def run_migrations(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision``, in one transaction."""
    if revision in {"head", HEAD_REVISION} and await _stored_revision(engine) == HEAD_REVISION:
        return
    async with transactions.writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        await conn.run_sync(_upgrade, revision)


async def upgrade(engine_url: str, revision: str = "head", *, schema: str | None = None) -> None:
    """Upgrade the database at ``engine_url`` (PostgreSQL: in ``schema``) to ``revision``."""
    engine = create_engine(engine_url, schema=schema)
    try:
        await run_migrations(engine, revision)
    finally:
        await engine.dispose()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None before the first migration."""
    with translated():
        async with engine.connect() as conn:
            return await conn.run_sync(_current_revision)


async def _stored_revision(engine: AsyncEngine) -> str | None:
    """The revision in ``alembic_version``, read without Alembic; None when there is none."""
    with translated():
        async with engine.connect() as conn:
            if not await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")):
                return None
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command  # noqa: PLC0415 -- see HEAD_REVISION
    from alembic.util import CommandError  # noqa: PLC0415 -- see HEAD_REVISION

    config = alembic_config()
    # env.py runs on this connection, inside the transaction opened by run_migrations.
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, revision)
    except CommandError as exc:  # e.g. a revision this version does not know
        raise StorageError(
            f"cannot bring the database schema to {revision}: {exc}"
            " (was the database migrated by a newer Mesiji?)"
        ) from exc


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 -- see HEAD_REVISION

    return MigrationContext.configure(connection).get_current_revision()
