"""The service tests' message store: :class:`MemoryMessageStore` with hooks for the tests.

Every decision (statuses, refunds, callbacks) is the in-memory store's, which applies the
life-cycle table and passes the storage contract suite; this only adds what the tests steer
and count: ``fail`` maps a method name to an exception its next call raises (before any
change), ``gates`` to an event its calls wait for before they run, ``calls`` counts calls per
method and ``sizes`` the batch size of each call. Each method yields to the event loop once,
as a database round trip would.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime

from mesiji.storage.memory import (
    MemoryMessage,
    MemoryMessageStore,
    MemoryNotification,
    MemoryPart,
)
from mesiji.storage.message_ports import (
    AcceptBatch,
    Accepted,
    IncomingReceipt,
    MessageQuery,
    MessageView,
    Notification,
    NotificationAttempt,
    PartToSend,
    StatusChange,
    SubmitResult,
)

__all__ = ["FakeMessage", "FakeMessageStore", "FakeNotification", "FakePart"]

FakePart = MemoryPart
FakeMessage = MemoryMessage
FakeNotification = MemoryNotification


class FakeMessageStore(MemoryMessageStore):
    """:class:`MemoryMessageStore` (account 1 funded by default) with the tests' hooks."""

    def __init__(
        self,
        balances: dict[int, int] | None = None,
        callback_urls: dict[int, str] | None = None,
    ) -> None:
        super().__init__(balances or {1: 10**9}, callback_urls)
        self.fail: dict[str, Exception] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.calls: Counter[str] = Counter()
        self.sizes: defaultdict[str, list[int]] = defaultdict(list)

    async def _enter(self, method: str, size: int | None = None) -> None:
        await asyncio.sleep(0)
        self.calls[method] += 1
        if size is not None:
            self.sizes[method].append(size)
        gate = self.gates.get(method)
        if gate is not None:
            await gate.wait()
        failure = self.fail.pop(method, None)
        if failure is not None:
            raise failure

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        await self._enter("accept", len(batch.messages))
        return await super().accept(batch, now)

    async def claim_parts(
        self, channel: str, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[PartToSend]:
        await self._enter("claim_parts", limit)
        return await super().claim_parts(channel, limit, owner, now, lease_until)

    async def record_submissions(
        self, results: Sequence[SubmitResult], now: datetime
    ) -> list[StatusChange]:
        await self._enter("record_submissions", len(results))
        return await super().record_submissions(results, now)

    async def apply_receipts(
        self, receipts: Sequence[IncomingReceipt], now: datetime
    ) -> list[StatusChange]:
        await self._enter("apply_receipts", len(receipts))
        return await super().apply_receipts(receipts, now)

    async def claim_notifications(
        self, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[Notification]:
        await self._enter("claim_notifications", limit)
        return await super().claim_notifications(limit, owner, now, lease_until)

    async def record_notification_attempts(
        self, attempts: Sequence[NotificationAttempt], now: datetime
    ) -> None:
        await self._enter("record_notification_attempts", len(attempts))
        await super().record_notification_attempts(attempts, now)

    async def get_message(self, account_id: int, message_id: int) -> MessageView | None:
        await self._enter("get_message")
        return await super().get_message(account_id, message_id)

    async def list_messages(
        self, account_id: int, query: MessageQuery
    ) -> tuple[list[MessageView], str | None]:
        await self._enter("list_messages")
        return await super().list_messages(account_id, query)
