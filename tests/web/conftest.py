"""A gateway's HTTP application on a real database, driven in process with httpx.

``api`` runs on SQLite; ``api_on_both`` runs each test on SQLite and on PostgreSQL (the
``database`` fixture of tests/storage/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from mesiji.domain.keys import generate_api_key
from mesiji.services.accept import AcceptService
from mesiji.services.cancel import CancelService
from mesiji.services.lookups import AccountLookups
from mesiji.settings import ChannelSettings
from mesiji.storage.engine import default_sqlite_url
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.records import NewAccount, SenderStatus
from mesiji.storage.sql import SqlStore, open_store
from mesiji.testing import VirtualClock
from mesiji.web.app import create_app
from mesiji.web.context import WebContext
from tests.storage.conftest import Database, database, pytest_generate_tests

__all__ = ["Api", "api", "api_on_both", "database", "pytest_generate_tests"]

MAX_BODY = 1_048_576


@dataclass
class Api:
    client: httpx.AsyncClient
    store: SqlStore
    messages: SqlMessageStore
    account_id: int
    key: str
    clock: VirtualClock
    app: FastAPI

    async def count(self, table: str) -> int:
        async with self.store.engine.connect() as conn:
            return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())

    async def balance(self) -> int:
        account = await self.store.get_account(self.account_id)
        assert account is not None
        return account.balance


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for served in _serve(default_sqlite_url(tmp_path)):
        yield served


@pytest.fixture
async def api_on_both(database: Database) -> AsyncIterator[Api]:
    """The gateway's application on SQLite, then on PostgreSQL."""
    async for served in _serve(database.url, database.schema, raise_app_exceptions=False):
        yield served


async def _serve(
    url: str, schema: str | None = None, *, raise_app_exceptions: bool = True
) -> AsyncIterator[Api]:
    clock = VirtualClock()
    store = await open_store(url, schema=schema, clock=clock)
    messages = SqlMessageStore(store.engine)
    account = await store.create_account(NewAccount(name="Shop LLC", website="shop.ge"))
    await store.add_credits(account.id, 100, "test")
    key = generate_api_key()
    await store.create_api_key(account.id, key.key_hash, key.prefix, "test")
    await store.set_sender(account.id, "Shop", SenderStatus.ACTIVE)
    await store.set_sender(account.id, "Pending", SenderStatus.PENDING)
    lookups = AccountLookups(store, clock, ttl=2.0)
    accept = AcceptService(lookups, messages, ChannelSettings(), clock)
    context = WebContext(
        store, lookups, messages, accept, clock, cancel=CancelService(messages, clock)
    )
    app = create_app(context, max_body_bytes=MAX_BODY)
    # raise_app_exceptions=False: the client sees the 500 the catch-all answers, as a real
    # client would, instead of the exception.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url="http://mesiji.test") as client:
        yield Api(client, store, messages, account.id, key.secret, clock, app)
    await store.close()
