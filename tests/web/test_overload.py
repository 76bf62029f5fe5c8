"""Overload and storage failures answer 429/503 with Retry-After, on both APIs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import httpx

from mesiji.services.accept import AcceptService
from mesiji.services.group_commit import AcceptBatcher
from mesiji.services.lookups import AccountLookups
from mesiji.settings import ChannelSettings
from mesiji.storage.errors import StorageUnavailable
from mesiji.storage.message_ports import (
    AcceptBatch,
    Accepted,
    AcceptOutcome,
    MessageQuery,
    MessageView,
)
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.testing.waiting import eventually
from mesiji.web.app import create_app
from mesiji.web.context import WebContext
from tests.web.conftest import Api


class _StuckStore:
    """Commits nothing until ``gate`` is set; fails every group when ``fail`` is set."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.committing = asyncio.Event()
        self.fail = False

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        raise AssertionError("the batcher commits through accept_many")

    async def accept_many(
        self, batches: Sequence[AcceptBatch], now: datetime
    ) -> list[AcceptOutcome]:
        self.committing.set()
        await self.gate.wait()
        if self.fail:
            raise StorageUnavailable("disk full")
        return [Accepted((i,), balance=0) for i, _ in enumerate(batches, 1)]


async def test_overload_and_unavailable_storage_answer_with_retry_after(api: Api) -> None:
    stuck = _StuckStore()
    lookups = AccountLookups(api.store, api.clock, ttl=2.0)
    batcher = AcceptBatcher(stuck, api.clock, max_delay=0, max_queued=1)
    accept = AcceptService(lookups, api.messages, ChannelSettings(), api.clock, batcher=batcher)
    app = create_app(WebContext(api.store, lookups, api.messages, accept, api.clock))
    body = {"to": "599000001", "sender": "Shop", "text": "hi"}
    headers = {"Authorization": f"Bearer {api.key}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mesiji.test"
    ) as client:
        committing = asyncio.create_task(client.post("/v1/messages", json=body, headers=headers))
        await stuck.committing.wait()
        waiting = asyncio.create_task(client.post("/v1/messages", json=body, headers=headers))
        await eventually(lambda: batcher.queued == 1)

        refused = await client.post("/v1/messages", json=body, headers=headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["code"] == "too_many_requests"
        legacy = await client.get(
            "/api/v2/send/",
            params={"key": api.key, "destination": "599000001", "sender": "Shop", "content": "x"},
        )
        assert legacy.status_code == 200
        assert (legacy.json()["Success"], legacy.json()["ErrorCode"]) == (False, -100)

        stuck.fail = True
        stuck.gate.set()
        for answer in await asyncio.gather(committing, waiting):
            assert answer.status_code == 503
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["error"]["code"] == "unavailable"


class _UnreachableMessages(SqlMessageStore):
    """A message store whose database stopped answering reads."""

    async def list_messages(
        self, account_id: int, query: MessageQuery
    ) -> tuple[list[MessageView], str | None]:
        raise StorageUnavailable("database unreachable")


async def test_a_storage_failure_on_the_smsoffice_api_is_its_temporary_failure(api: Api) -> None:
    lookups = AccountLookups(api.store, api.clock, ttl=2.0)
    messages = _UnreachableMessages(api.store.engine)
    accept = AcceptService(lookups, messages, ChannelSettings(), api.clock)
    app = create_app(WebContext(api.store, lookups, messages, accept, api.clock))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mesiji.test"
    ) as client:
        status = await client.get(
            "/api/v2/getMessageStatus/", params={"key": api.key, "reference": "r1"}
        )
        assert status.status_code == 200
        assert (status.json()["Success"], status.json()["ErrorCode"]) == (False, -100)
        native = await client.get("/v1/messages", headers={"Authorization": f"Bearer {api.key}"})
        assert native.status_code == 503
        assert native.headers["Retry-After"] == "1"
        assert native.json()["error"]["code"] == "unavailable"
