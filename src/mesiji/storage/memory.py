"""The message pipeline's storage in memory: :class:`MemoryMessageStore`.

It implements the same ports as :class:`~mesiji.storage.messages_sql.SqlMessageStore`
(:class:`~mesiji.storage.message_ports.MessageStore`, ``GroupAcceptStore``,
``CancellingStore``, ``ReceiptWaitStore``) through the same life-cycle table
(:mod:`mesiji.domain.lifecycle`) and the same effect code (:func:`mesiji.storage.part_states.
advance`), and the storage contract suite (tests/storage/test_message_store_*.py) runs on it
as on SQLite and PostgreSQL. It lives here, next to the SQL adapter, rather than in
:mod:`mesiji.testing`, because it is a storage adapter held to the storage contract, not a
stand-in for I/O: the service tests use it as their store, and a single-process demo could.
Nothing is durable: a restart loses everything.

Each method is one "transaction": it validates first and then applies every change without
yielding, so no other task sees half of it. A message keeps the tally of its parts' states
(:class:`~mesiji.domain.lifecycle.MessageState`), updated as each part moves, and is settled
from it without reading its parts again.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from mesiji.domain.lifecycle import (
    Effect,
    Event,
    MessageEffect,
    MessageState,
    message_error_code,
    receipt_event,
    settle,
    states_for,
    step,
    submit_event,
)
from mesiji.domain.statuses import MessageStatus, PartStatus, is_final
from mesiji.smpp.receipts import canonical_message_id, message_id_keys
from mesiji.storage.accept_sql import check_batch
from mesiji.storage.errors import Conflict, InsufficientBalance, NotFound, StorageError
from mesiji.storage.memory_outbox import MemoryNotification, MemoryOutbox
from mesiji.storage.message_ports import (
    AcceptBatch,
    Accepted,
    AcceptOutcome,
    CallbackView,
    Cancellation,
    GivenUp,
    IncomingReceipt,
    MessageQuery,
    MessageView,
    NewMessage,
    PartToSend,
    StatusChange,
    SubmitResult,
)
from mesiji.storage.messages_sql import MAX_PAGE, decode_cursor, encode_cursor
from mesiji.storage.notifications_sql import StatusCallback, payload_status, status_payload
from mesiji.storage.part_states import PartState, advance
from mesiji.storage.receipts_sql import warn_reused

__all__ = ["MemoryMessage", "MemoryMessageStore", "MemoryNotification", "MemoryPart"]

_AWAITING = states_for(Event.RECEIPT_WAIT_OVER)


@dataclass(slots=True)
class MemoryPart(PartState):
    """A part with its claim: attempts and lease."""

    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None


@dataclass(slots=True)
class MemoryMessage:
    id: int
    account_id: int
    new: NewMessage
    status: MessageStatus
    tally: MessageState
    created_at: datetime
    updated_at: datetime
    parts: list[MemoryPart] = field(default_factory=list)
    error_code: str | None = None
    events: list[tuple[str, str | None, datetime]] = field(default_factory=list)


@dataclass(slots=True)
class _Receipt:
    """A receipt whose part is not known yet, under its canonical key."""

    id: int
    channel: str
    key: str
    status: PartStatus
    error_code: str | None
    matched_part_id: int | None = None


class MemoryMessageStore(MemoryOutbox):
    """The message store in memory. ``balances`` and ``callback_urls`` are the accounts'."""

    def __init__(
        self,
        balances: dict[int, int] | None = None,
        callback_urls: dict[int, str] | None = None,
    ) -> None:
        super().__init__()
        self.balances = dict(balances or {})
        self.callback_urls = dict(callback_urls or {})
        self.messages: dict[int, MemoryMessage] = {}
        self.parts: dict[int, MemoryPart] = {}
        #: (account, delta, reason, message id) of every change of a balance.
        self.ledger: list[tuple[int, int, str, int | None]] = []
        #: Receipts that came before their submit_sm_resp was recorded, and waited for it.
        self.early_receipts = 0
        self._message_ids = itertools.count(1)
        self._part_ids = itertools.count(1)
        self._receipt_ids = itertools.count(1)
        self._accounts = itertools.count(1)
        self._keys: dict[tuple[int, str], tuple[str | None, Accepted]] = {}
        self._queued: defaultdict[str, list[int]] = defaultdict(list)  # heaps of part ids
        self._submitting: defaultdict[str, set[int]] = defaultdict(set)
        self._awaiting: set[int] = set()
        self._by_smsc_id: dict[tuple[str, str], int] = {}
        self._waiting: defaultdict[tuple[str, str], list[_Receipt]] = defaultdict(list)
        #: Every receipt kept because its part was not known yet, matched since or not.
        self.receipts: list[_Receipt] = []

    @property
    def idempotency_keys(self) -> list[tuple[int, str]]:
        """(account, key) of every idempotency key seen."""
        return list(self._keys)

    # -- accounts (what the contract tests need of them) ------------------------------------

    def open_account(self, credits: int = 0, callback_url: str | None = None) -> int:
        """A new account holding ``credits``; its id."""
        account = next(self._accounts)
        while account in self.balances:
            account = next(self._accounts)
        self.balances[account] = credits
        if callback_url is not None:
            self.callback_urls[account] = callback_url
        return account

    async def add_credits(self, account_id: int, delta: int, reason: str) -> int:
        """Change the account's balance; the new balance."""
        if account_id not in self.balances:
            raise NotFound(f"no account {account_id}")
        self.balances[account_id] += delta
        self.ledger.append((account_id, delta, reason, None))
        return self.balances[account_id]

    # -- accepting --------------------------------------------------------------------------

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        """As :meth:`SqlMessageStore.accept`: replay a known key, else reserve and store."""
        check_batch(batch)
        account = batch.account_id
        key = batch.idempotency_key
        if key is not None and (account, key) in self._keys:
            request_hash, first = self._keys[account, key]
            if request_hash != batch.request_hash or len(first.message_ids) != len(batch.messages):
                raise Conflict(f"idempotency key {key!r} was used for a different request")
            return replace(first, replayed=True)
        if account not in self.balances:
            raise NotFound(f"no account {account}")
        cost = sum(m.credits for m in batch.messages)
        if cost > self.balances[account]:
            raise InsufficientBalance(required=cost, available=self.balances[account])
        self.balances[account] -= cost
        ids = tuple(self._store(account, new, now) for new in batch.messages)
        if cost:
            self.ledger.append((account, -cost, "accept", ids[0]))  # one row per request
        accepted = Accepted(ids, self.balances[account])
        if key is not None:
            self._keys[account, key] = (batch.request_hash, accepted)
        return accepted

    async def accept_many(
        self, batches: Sequence[AcceptBatch], now: datetime
    ) -> list[AcceptOutcome]:
        """Each request as :meth:`accept` would, grouped by account; each its own outcome."""
        outcomes: dict[int, AcceptOutcome] = {}
        for i in sorted(range(len(batches)), key=lambda i: batches[i].account_id):
            try:
                outcomes[i] = await self.accept(batches[i], now)
            except (StorageError, InsufficientBalance, ValueError) as exc:
                outcomes[i] = exc
        return [outcomes[i] for i in range(len(batches))]

    def _store(self, account: int, new: NewMessage, now: datetime) -> int:
        tally = MessageState.of([PartStatus.QUEUED] * new.segments)
        status = tally.status(scheduled=new.send_at is not None and new.send_at > now)
        message = MemoryMessage(next(self._message_ids), account, new, status, tally, now, now)
        message.events.append((status.value, None, now))
        self.messages[message.id] = message
        for seqnum in range(1, new.segments + 1):
            part = MemoryPart(
                id=next(self._part_ids),
                message_id=message.id,
                account_id=account,
                channel=new.channel,
                seqnum=seqnum,
                total=new.segments,
                message_credits=new.credits,
                status=PartStatus.QUEUED,
            )
            self.parts[part.id] = part
            message.parts.append(part)
            heapq.heappush(self._queued[new.channel], part.id)
        return message.id

    # -- moving parts -----------------------------------------------------------------------

    def _move(
        self,
        part: MemoryPart,
        event: Event,
        now: datetime,
        *,
        error_code: str | None = None,
        smsc_message_id: str | None = None,
        lease: tuple[str, datetime] | None = None,
    ) -> bool:
        """Apply the table's row for ``event`` to ``part`` and keep the indexes; False: none."""
        before = part.status
        row = advance(part, event, now, error_code=error_code, smsc_message_id=smsc_message_id)
        if row is None:
            return False
        if Effect.TAKE_LEASE in row and lease is not None:
            part.lease_owner, part.lease_until = lease
            part.attempts += 1
        if Effect.RELEASE_LEASE in row:
            part.lease_owner = part.lease_until = None
        message = self.messages[part.message_id]
        message.tally = message.tally.moved(before, part.status)
        channel = part.channel or ""
        self._submitting[channel].discard(part.id)
        self._awaiting.discard(part.id)
        if part.status is PartStatus.QUEUED:
            heapq.heappush(self._queued[channel], part.id)
        if part.lease_until is not None:
            self._submitting[channel].add(part.id)
        if part.status in _AWAITING:
            self._awaiting.add(part.id)
        return True

    def _settle(self, message_ids: Iterable[int], now: datetime) -> list[StatusChange]:
        """Settle the messages on their tallies; record, announce and return the changes."""
        changes = []
        for message_id in sorted(set(message_ids)):
            message = self.messages[message_id]
            new = message.new
            settled = settle(
                message.status,
                message.tally,
                scheduled=new.send_at is not None and new.send_at > now,
            )
            error_code = (
                message_error_code(
                    settled.status, [(p.status, p.error_code) for p in message.parts]
                )
                if message.tally.open_parts == 0
                else None
            )
            if not settled.effects and error_code == message.error_code:
                continue
            message.status, message.error_code, message.updated_at = (
                settled.status,
                error_code,
                now,
            )
            if MessageEffect.RECORD not in settled.effects:
                continue
            message.events.append((settled.status.value, error_code, now))
            changes.append(StatusChange(message.id, message.account_id, settled.status, now))
            url = new.callback_url or self.callback_urls.get(message.account_id)
            if url is not None and MessageEffect.QUEUE_CALLBACK in settled.effects:
                callback = StatusCallback(
                    url=url,
                    smsoffice_form=new.callback_url is None,
                    operator=new.operator,
                    message_id=message.id,
                    account_id=message.account_id,
                    reference=new.reference,
                    destination=new.destination,
                    status=settled.status,
                    error_code=error_code,
                    segments=new.segments,
                    created_at=message.created_at,
                    updated_at=now,
                )
                self.add_notification(
                    message.account_id, url, status_payload(callback), now, message.id
                )
        return changes

    def _refund(self, moved: Iterable[PartState]) -> int:
        """Give back the credits of the parts the table said to refund; how many."""
        per_message: defaultdict[tuple[int, int], int] = defaultdict(int)
        for part in moved:
            if part.refunded:
                per_message[part.account_id, part.message_id] += part.credits
        for (account, message_id), credits in sorted(per_message.items()):
            if credits > 0:
                self.balances[account] += credits
                self.ledger.append((account, credits, "refund", message_id))
        return sum(per_message.values())

    # -- dispatching ------------------------------------------------------------------------

    async def claim_parts(
        self, channel: str, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[PartToSend]:
        """As :meth:`SqlMessageStore.claim_parts`: parts whose lease ran out first, then
        queued parts due now in the order they were accepted; parts past their validity
        expire instead (refunded)."""
        if limit <= 0:
            return []
        claimed: list[tuple[MemoryPart, bool]] = []
        gone: list[MemoryPart] = []

        def take(part: MemoryPart) -> None:
            message = self.messages[part.message_id]
            valid_until = message.new.valid_until
            if valid_until is not None and valid_until <= now:
                self._move(part, Event.EXPIRED_IN_QUEUE, now)
                gone.append(part)
            else:
                starting = message.status is MessageStatus.SCHEDULED
                self._move(part, Event.CLAIMED, now, lease=(owner, lease_until))
                claimed.append((part, starting))

        # Parts whose lease ran out (their dispatcher died) first, as the SQL store takes them.
        stale = sorted(
            i
            for i in self._submitting[channel]
            if (until := self.parts[i].lease_until) is not None and until < now
        )
        for part_id in stale[:limit]:
            take(self.parts[part_id])
        queue, later = self._queued[channel], []
        while queue and len(claimed) < limit:
            part = self.parts[heapq.heappop(queue)]
            if part.status is not PartStatus.QUEUED:
                continue  # moved on since it was queued: the heap forgets lazily
            send_at = self.messages[part.message_id].new.send_at
            if send_at is not None and send_at > now:
                later.append(part.id)
            else:
                take(part)
        for part_id in later:
            heapq.heappush(queue, part_id)
        starting_ids = {p.message_id for p, starting in claimed if starting}
        self._settle(starting_ids | {p.message_id for p in gone}, now)
        self._refund(gone)
        return [self._to_send(part) for part, _ in claimed]

    def _to_send(self, part: MemoryPart) -> PartToSend:
        new = self.messages[part.message_id].new
        return PartToSend(
            part_id=part.id,
            message_id=part.message_id,
            account_id=part.account_id,
            seqnum=part.seqnum,
            total=part.total,
            sender=new.sender,
            destination=new.destination,
            body=new.body,
            alphabet=new.alphabet,
            concat_reference=part.message_id % 256,
            valid_until=new.valid_until,
            attempts=part.attempts,
        )

    async def record_submissions(
        self, results: Sequence[SubmitResult], now: datetime
    ) -> list[StatusChange]:
        """As :meth:`SqlMessageStore.record_submissions`."""
        outcome: dict[int, tuple[SubmitResult, Event]] = {}
        for result in results:
            try:
                event = submit_event(result.smsc_message_id, result.status)
            except ValueError as exc:
                raise ValueError(f"part {result.part_id}: {exc}") from None
            outcome.setdefault(result.part_id, (result, event))
        moved: list[MemoryPart] = []
        for part_id in sorted(outcome):
            part = self.parts.get(part_id)
            result, event = outcome[part_id]
            smsc_id = result.smsc_message_id
            if part is not None and self._move(
                part,
                event,
                now,
                error_code=result.error_code,
                smsc_message_id=None if smsc_id is None else canonical_message_id(smsc_id),
            ):
                moved.append(part)
        touched = [p.message_id for p in moved]
        for part in moved:
            if part.smsc_message_id is None or part.channel is None:
                continue
            key = (part.channel, part.smsc_message_id)
            older = self._by_smsc_id.get(key)
            if older is not None and self._move(self.parts[older], Event.ID_REUSED, now):
                warn_reused(key[0], key[1], newer=part.id, older=older)
                touched.append(self.parts[older].message_id)
            self._by_smsc_id[key] = part.id
        for part in moved:
            if part.smsc_message_id is not None:  # not retired just now
                self._apply_waiting(part, now)
        changes = self._settle(touched, now)
        self._refund(moved)
        return changes

    # -- receipts ---------------------------------------------------------------------------

    async def apply_receipts(
        self, receipts: Sequence[IncomingReceipt], now: datetime
    ) -> list[StatusChange]:
        """As :meth:`SqlMessageStore.apply_receipts`."""
        touched = []
        for receipt in receipts:
            if receipt.status is None or not is_final(receipt.status):
                continue
            if not receipt.message_id_keys:
                continue
            part_id = next(
                (
                    self._by_smsc_id[receipt.channel, key]
                    for key in receipt.message_id_keys
                    if (receipt.channel, key) in self._by_smsc_id
                ),
                None,
            )
            if part_id is None:
                self._keep_waiting(receipt, receipt.status)
            elif self._move(
                self.parts[part_id],
                receipt_event(receipt.status),
                now,
                error_code=receipt.error_code,
            ):
                touched.append(self.parts[part_id].message_id)
        return self._settle(touched, now)

    def _keep_waiting(self, receipt: IncomingReceipt, status: PartStatus) -> None:
        key = receipt.message_id_keys[0]
        waiting = self._waiting[receipt.channel, key]
        if any((r.status, r.error_code) == (status, receipt.error_code) for r in waiting):
            return
        self.early_receipts += 1
        kept = _Receipt(next(self._receipt_ids), receipt.channel, key, status, receipt.error_code)
        waiting.append(kept)
        self.receipts.append(kept)

    def _apply_waiting(self, part: MemoryPart, now: datetime) -> None:
        """Apply receipts that waited for this part's id; the literal printing wins."""
        if part.channel is None or part.smsc_message_id is None:
            return
        candidates = message_id_keys(part.smsc_message_id)
        mine = [r for key in candidates for r in self._waiting.get((part.channel, key), [])]
        literal = [r for r in mine if r.key == candidates[0]]
        for receipt in sorted(literal or mine, key=lambda r: r.id):
            receipt.matched_part_id = part.id
            self._waiting[part.channel, receipt.key].remove(receipt)
            self._move(part, receipt_event(receipt.status), now, error_code=receipt.error_code)

    # -- cancelling and giving up -----------------------------------------------------------

    async def cancel_message(
        self, account_id: int, message_id: int, now: datetime
    ) -> Cancellation | None:
        """As :meth:`SqlMessageStore.cancel_message`: all parts or none."""
        message = self.messages.get(message_id)
        if message is None or message.account_id != account_id:
            return None
        if not all(step(p.status, Event.CANCELLED) for p in message.parts):
            return Cancellation(message.status, cancelled=False)
        for part in message.parts:
            self._move(part, Event.CANCELLED, now)
        changes = self._settle([message_id], now)
        refunded = self._refund(message.parts)
        return Cancellation(message.status, True, refunded, tuple(changes))

    async def give_up_waiting(
        self, submitted_before: datetime, now: datetime, limit: int
    ) -> GivenUp:
        """As :meth:`SqlMessageStore.give_up_waiting`."""
        given_up: list[MemoryPart] = []
        for part_id in sorted(self._awaiting):
            if len(given_up) >= limit:
                break
            part = self.parts[part_id]
            valid_until = self.messages[part.message_id].new.valid_until
            if part.submitted_at is None or part.submitted_at >= submitted_before:
                continue
            if valid_until is not None and valid_until > now:
                continue
            if self._move(part, Event.RECEIPT_WAIT_OVER, now):
                given_up.append(part)
        return GivenUp(len(given_up), self._settle((p.message_id for p in given_up), now))

    # -- reading ----------------------------------------------------------------------------

    async def get_message(self, account_id: int, message_id: int) -> MessageView | None:
        message = self.messages.get(message_id)
        if message is None or message.account_id != account_id:
            return None
        return self._view(message)

    async def list_messages(
        self, account_id: int, query: MessageQuery
    ) -> tuple[list[MessageView], str | None]:
        """As :meth:`SqlMessageStore.list_messages`, cursors included."""
        limit = max(1, min(query.limit, MAX_PAGE))
        after = None if query.cursor is None else decode_cursor(query.cursor)
        rows = sorted(
            (
                m
                for m in self.messages.values()
                if m.account_id == account_id
                and (query.status is None or m.status == query.status)
                and (query.reference is None or m.new.reference == query.reference)
                and (query.destination is None or m.new.destination == query.destination)
                and (query.since is None or m.created_at >= query.since)
                and (query.until is None or m.created_at < query.until)
                and (after is None or (m.created_at, m.id) < after)
            ),
            key=lambda m: (m.created_at, m.id),
            reverse=True,
        )
        page = [self._view(m, history=query.with_history) for m in rows[:limit]]
        if len(rows) <= limit:
            return page, None
        return page, encode_cursor(page[-1].created_at, page[-1].id)

    def _view(self, message: MemoryMessage, *, history: bool = True) -> MessageView:
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
            events=tuple(message.events) if history else (),
            callbacks=callbacks if history else (),
        )

    # -- for assertions ---------------------------------------------------------------------

    def parts_of(self, message_id: int) -> list[MemoryPart]:
        """The parts of a message, in order."""
        return list(self.messages[message_id].parts)
