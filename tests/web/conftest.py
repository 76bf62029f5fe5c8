"""A gateway's HTTP application on a real SQLite database, driven in process with httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

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

MAX_BODY = 1_048_576


@dataclass
class Api:
    client: httpx.AsyncClient
    store: SqlStore
    messages: SqlMessageStore
    account_id: int
    key: str
    clock: VirtualClock

    async def count(self, table: str) -> int:
        async with self.store.engine.connect() as conn:
            return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())

    async def balance(self) -> int:
        account = await self.store.get_account(self.account_id)
        assert account is not None
        return account.balance


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    clock = VirtualClock()
    store = await open_store(default_sqlite_url(tmp_path), clock=clock)
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
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mesiji.test") as client:
        yield Api(client, store, messages, account.id, key.secret, clock)
    await store.close()
