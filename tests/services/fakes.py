"""An in-memory MessageStore that keeps the port's promises, for the service tests.

It follows :mod:`mesiji.storage.message_ports` as the SQL adapter must: each method is one
"transaction" (all of it or, when a failure is injected, none of it), parts are claimed with
leases, a part whose response was recorded is never claimed again, receipts that beat their
submit_sm_resp wait for it, message statuses are derived from the parts and every change
writes its notification in the same call. Each method yields to the event loop once, as a
database round trip would.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from mesiji.domain.statuses import (
    MessageStatus,
    PartStatus,
    can_transition,
    derive_message_status,
    is_final,
)
from mesiji.storage.errors import Conflict, InsufficientBalance
from mesiji.storage.message_ports import (
    AcceptBatch,
    Accepted,
    CallbackView,
    CursorError,
    IncomingReceipt,
    MessageQuery,
    MessageView,
    NewMessage,
    Notification,
    NotificationAttempt,
    PartToSend,
    StatusChange,
    SubmitResult,
)
from mesiji.storage.notifications_sql import payload_status

P = PartStatus


@dataclass(slots=True)
class FakePart:
    id: int
    message_id: int
    seqnum: int
    total: int
    channel: str
    status: PartStatus = P.QUEUED
    smsc_message_id: str | None = None
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None
    submitted_at: datetime | None = None
    done_at: datetime | None = None
    error_code: str | None = None


@dataclass(slots=True)
class FakeMessage:
    id: int
    account_id: int
    new: NewMessage
    concat_reference: int
    status: MessageStatus
    created_at: datetime
    updated_at: datetime
    part_ids: list[int] = field(default_factory=list)
    error_code: str | None = None
    events: list[tuple[str, str | None, datetime]] = field(default_factory=list)


@dataclass(slots=True)
class FakeNotification:
    id: int
    message_id: int | None
    account_id: int
    url: str
    payload: str
    next_attempt_at: datetime | None
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    last_status_code: int | None = None
    #: (now, delivered, status_code, error, next_attempt_at) of every recorded attempt.
    history: list[tuple[datetime, bool, int | None, str | None, datetime | None]] = field(
        default_factory=list
    )


class FakeMessageStore:
    """Implements :class:`mesiji.storage.message_ports.MessageStore` in memory.

    ``balances`` are the accounts' credits; ``callback_urls`` their account-wide callbacks.
    ``fail`` maps a method name to an exception its next call raises (before any change);
    ``gates`` to an event its calls wait for before they run.
    ``calls`` counts calls per method and ``sizes`` the batch size of each call.
    """

    def __init__(
        self,
        balances: dict[int, int] | None = None,
        callback_urls: dict[int, str] | None = None,
    ) -> None:
        self.balances = dict(balances or {1: 10**9})
        self.callback_urls = dict(callback_urls or {})
        self.messages: dict[int, FakeMessage] = {}
        self.parts: dict[int, FakePart] = {}
        self.notifications: dict[int, FakeNotification] = {}
        self.fail: dict[str, Exception] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.calls: Counter[str] = Counter()
        self.sizes: defaultdict[str, list[int]] = defaultdict(list)
        self._ids = itertools.count(1)
        self._references = itertools.count(1)
        self._queued: defaultdict[str, deque[int]] = defaultdict(deque)
        self._urgent: defaultdict[str, deque[int]] = defaultdict(deque)
        self._scheduled: defaultdict[str, list[tuple[datetime, int]]] = defaultdict(list)
        self._leases: defaultdict[str, list[tuple[datetime, int]]] = defaultdict(list)
        self._by_smsc_id: dict[tuple[str, str], int] = {}
        self._waiting: defaultdict[tuple[str, str], list[IncomingReceipt]] = defaultdict(list)
        self._idempotency: dict[tuple[int, str], tuple[str | None, Accepted]] = {}
        #: Receipts that came before their submit_sm_resp was recorded, and waited for it.
        self.early_receipts = 0

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

    # --- accept --------------------------------------------------------------------------

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        await self._enter("accept", len(batch.messages))
        account = batch.account_id
        if batch.idempotency_key is not None:
            seen = self._idempotency.get((account, batch.idempotency_key))
            if seen is not None:
                if seen[0] != batch.request_hash:
                    raise Conflict("idempotency key reused with another request")
                return Accepted(seen[1].message_ids, self.balances[account], replayed=True)
        needed = sum(m.credits for m in batch.messages)
        balance = self.balances.get(account, 0)
        if needed > balance:
            raise InsufficientBalance(required=needed, available=balance)
        self.balances[account] = balance - needed
        ids = tuple(self._store_message(account, new, now) for new in batch.messages)
        accepted = Accepted(ids, self.balances[account])
        if batch.idempotency_key is not None:
            self._idempotency[(account, batch.idempotency_key)] = (batch.request_hash, accepted)
        return accepted

    def _store_message(self, account: int, new: NewMessage, now: datetime) -> int:
        scheduled = new.send_at is not None and new.send_at > now
        status = MessageStatus.SCHEDULED if scheduled else MessageStatus.QUEUED
        message = FakeMessage(
            id=next(self._ids),
            account_id=account,
            new=new,
            concat_reference=next(self._references) & 0xFFFF,
            status=status,
            created_at=now,
            updated_at=now,
        )
        message.events.append((status.value, None, now))
        self.messages[message.id] = message
        for seqnum in range(1, new.segments + 1):
            part = FakePart(next(self._ids), message.id, seqnum, new.segments, new.channel)
            self.parts[part.id] = part
            message.part_ids.append(part.id)
            if scheduled:
                assert new.send_at is not None
                heapq.heappush(self._scheduled[new.channel], (new.send_at, part.id))
            elif new.urgent:
                self._urgent[new.channel].append(part.id)
            else:
                self._queued[new.channel].append(part.id)
        return message.id

    # --- dispatch ------------------------------------------------------------------------

    async def claim_parts(
        self, channel: str, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[PartToSend]:
        await self._enter("claim_parts", limit)
        scheduled = self._scheduled[channel]
        while scheduled and scheduled[0][0] <= now:
            self._queued[channel].append(heapq.heappop(scheduled)[1])
        chosen: list[FakePart] = []
        leases = self._leases[channel]
        while leases and leases[0][0] <= now and len(chosen) < limit:
            until, part_id = heapq.heappop(leases)
            part = self.parts[part_id]
            if part.status is P.SUBMITTING and part.lease_until == until:
                chosen.append(part)
        for queue in (self._urgent[channel], self._queued[channel]):
            while queue and len(chosen) < limit:
                part = self.parts[queue.popleft()]
                if part.status is P.QUEUED:
                    chosen.append(part)
        claimed = []
        for part in chosen:
            part.status = P.SUBMITTING
            part.lease_owner = owner
            part.lease_until = lease_until
            part.attempts += 1
            heapq.heappush(leases, (lease_until, part.id))
            claimed.append(self._to_send(part))
        return claimed

    def _to_send(self, part: FakePart) -> PartToSend:
        message = self.messages[part.message_id]
        new = message.new
        return PartToSend(
            part_id=part.id,
            message_id=message.id,
            account_id=message.account_id,
            seqnum=part.seqnum,
            total=part.total,
            sender=new.sender,
            destination=new.destination,
            body=new.body,
            alphabet=new.alphabet,
            concat_reference=message.concat_reference,
            valid_until=new.valid_until,
            attempts=part.attempts,
        )

    async def record_submissions(
        self, results: Sequence[SubmitResult], now: datetime
    ) -> list[StatusChange]:
        await self._enter("record_submissions", len(results))
        touched: dict[int, None] = {}
        for result in results:
            part = self.parts[result.part_id]
            # Only a part still out for submission takes an outcome: a late result for a
            # part already recorded (by another dispatcher after its lease) changes nothing.
            if part.status is not P.SUBMITTING:
                continue
            part.lease_owner = part.lease_until = None
            if result.smsc_message_id is not None:
                part.status = P.IN_TRANSIT
                part.smsc_message_id = result.smsc_message_id
                part.submitted_at = now
                key = (part.channel, result.smsc_message_id)
                self._by_smsc_id[key] = part.id
                for receipt in self._waiting.pop(key, []):
                    self._forget_waiting(receipt)
                    self._apply(part, receipt, now)
            else:
                part.status = result.status or P.FAILED
                part.error_code = result.error_code
                part.done_at = now
            touched[part.message_id] = None
        return self._derive(touched, now)

    # --- receipts ------------------------------------------------------------------------

    async def apply_receipts(
        self, receipts: Sequence[IncomingReceipt], now: datetime
    ) -> list[StatusChange]:
        await self._enter("apply_receipts", len(receipts))
        touched: dict[int, None] = {}
        for receipt in receipts:
            part = self._match(receipt)
            if part is None:
                self.early_receipts += 1
                for key in receipt.message_id_keys:
                    self._waiting[(receipt.channel, key)].append(receipt)
                continue
            self._apply(part, receipt, now)
            touched[part.message_id] = None
        return self._derive(touched, now)

    def _match(self, receipt: IncomingReceipt) -> FakePart | None:
        for key in receipt.message_id_keys:
            part_id = self._by_smsc_id.get((receipt.channel, key))
            if part_id is not None:
                return self.parts[part_id]
        return None

    def _forget_waiting(self, receipt: IncomingReceipt) -> None:
        for key in receipt.message_id_keys:
            waiting = self._waiting.get((receipt.channel, key))
            if waiting is not None and receipt in waiting:
                waiting.remove(receipt)
                if not waiting:
                    del self._waiting[(receipt.channel, key)]

    def _apply(self, part: FakePart, receipt: IncomingReceipt, now: datetime) -> None:
        status = receipt.status
        if status is None or not can_transition(part.status, status):
            return  # intermediate, repeated, or too late (UNDELIV after EXPIRED)
        part.status = status
        part.done_at = now
        part.error_code = None if status is P.DELIVERED else receipt.error_code

    # --- statuses and the outbox ---------------------------------------------------------

    def _derive(self, message_ids: dict[int, None], now: datetime) -> list[StatusChange]:
        changes = []
        for message_id in message_ids:
            message = self.messages[message_id]
            statuses = [self.parts[i].status for i in message.part_ids]
            status = derive_message_status(statuses, send_at=message.new.send_at, now=now)
            if status == message.status:
                continue
            message.status = status
            message.updated_at = now
            errors = [
                self.parts[i].error_code
                for i in message.part_ids
                if is_final(self.parts[i].status) and self.parts[i].error_code
            ]
            message.error_code = errors[0] if errors else None
            message.events.append((status.value, message.error_code, now))
            changes.append(StatusChange(message.id, message.account_id, status, now))
            url = message.new.callback_url or self.callback_urls.get(message.account_id)
            if url is not None:
                payload = {
                    "message_id": message.id,
                    "reference": message.new.reference,
                    "status": status.value,
                    "error_code": message.error_code,
                    "at": now.isoformat(),
                }
                self.add_notification(message.account_id, url, json.dumps(payload), now, message.id)
        return changes

    def add_notification(
        self,
        account_id: int,
        url: str,
        payload: str,
        now: datetime,
        message_id: int | None = None,
    ) -> FakeNotification:
        """Write a notification row, as a status change does."""
        notification = FakeNotification(next(self._ids), message_id, account_id, url, payload, now)
        self.notifications[notification.id] = notification
        return notification

    async def claim_notifications(
        self, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[Notification]:
        await self._enter("claim_notifications", limit)
        due = sorted(
            (n for n in self.notifications.values() if _due(n, now)),
            key=lambda n: (n.next_attempt_at, n.id),
        )[:limit]
        for n in due:
            n.next_attempt_at = lease_until  # the lease: nobody else takes it before then
        return [
            Notification(n.id, n.message_id, n.account_id, n.url, n.payload, n.attempts)
            for n in due
        ]

    async def record_notification_attempts(
        self, attempts: Sequence[NotificationAttempt], now: datetime
    ) -> None:
        await self._enter("record_notification_attempts", len(attempts))
        for attempt in attempts:
            n = self.notifications.get(attempt.notification_id)
            # Only a pending notification changes (a late report after the lease ran out and
            # another worker finished it changes nothing); unknown ids are ignored.
            if n is None or n.status != "pending":
                continue
            n.attempts += 1
            n.last_status_code = attempt.status_code
            n.last_error = attempt.error
            n.history.append(
                (
                    now,
                    attempt.delivered,
                    attempt.status_code,
                    attempt.error,
                    attempt.next_attempt_at,
                )
            )
            if attempt.delivered:
                n.status, n.next_attempt_at = "delivered", None
            elif attempt.next_attempt_at is None:
                n.status, n.next_attempt_at = "failed", None
            else:
                n.next_attempt_at = attempt.next_attempt_at

    # --- reading -------------------------------------------------------------------------

    async def get_message(self, account_id: int, message_id: int) -> MessageView | None:
        await self._enter("get_message")
        message = self.messages.get(message_id)
        if message is None or message.account_id != account_id:
            return None
        return self._view(message)

    async def list_messages(
        self, account_id: int, query: MessageQuery
    ) -> tuple[list[MessageView], str | None]:
        await self._enter("list_messages")
        rows = [
            m
            for m in sorted(self.messages.values(), key=lambda m: m.id, reverse=True)
            if m.account_id == account_id
            and (query.status is None or m.status == query.status)
            and (query.reference is None or m.new.reference == query.reference)
            and (query.destination is None or m.new.destination == query.destination)
            and (query.since is None or m.created_at >= query.since)
            and (query.until is None or m.created_at < query.until)
            and (query.cursor is None or m.id < _cursor(query.cursor))
        ]
        page = rows[: query.limit]
        cursor = str(page[-1].id) if len(rows) > query.limit else None
        views = [self._view(m) for m in page]
        if not query.with_history:
            views = [replace(v, events=(), callbacks=()) for v in views]
        return views, cursor

    def _view(self, message: FakeMessage) -> MessageView:
        new = message.new
        callbacks = tuple(
            CallbackView(
                attempts=n.attempts,
                status=n.status,
                last_status_code=n.last_status_code,
                last_error=n.last_error,
                message_status=payload_status(n.payload),
                url=n.url,
            )
            for n in self.notifications.values()
            if n.message_id == message.id
        )
        return MessageView(
            id=message.id,
            account_id=message.account_id,
            reference=new.reference,
            sender=new.sender,
            destination=new.destination,
            operator=new.operator,
            channel=new.channel,
            body=new.body,
            segments=new.segments,
            credits=new.credits,
            status=message.status,
            error_code=message.error_code,
            urgent=new.urgent,
            callback_url=new.callback_url,
            send_at=new.send_at,
            valid_until=new.valid_until,
            created_at=message.created_at,
            updated_at=message.updated_at,
            events=tuple(message.events),
            callbacks=callbacks,
        )

    # --- for assertions ------------------------------------------------------------------

    def parts_of(self, message_id: int) -> list[FakePart]:
        """The parts of a message, in order."""
        return [self.parts[i] for i in self.messages[message_id].part_ids]


def _cursor(cursor: str) -> int:
    if not cursor.isascii() or not cursor.isdigit():
        raise CursorError(cursor)
    return int(cursor)


def _due(notification: FakeNotification, now: datetime) -> bool:
    at = notification.next_attempt_at
    return notification.status == "pending" and at is not None and at <= now
