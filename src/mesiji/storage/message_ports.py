"""What the message pipeline needs from storage: the port its adapters implement.

Each method is one transaction: it commits everything it describes or nothing. Status changes
of a message and the callbacks they trigger are written in the same transaction
(a transactional outbox), so a status is never stored without its notification or the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mesiji.domain.credits import InsufficientBalance
from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.storage.errors import StorageError


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One recipient of an accepted send request, already validated and priced."""

    sender: str
    #: E.164 digits without "+", e.g. "995599123456".
    destination: str
    body: str
    #: "gsm7", "ucs2" or "latin1" (mesiji.text.Alphabet).
    alphabet: str
    segments: int
    credits: int
    channel: str
    operator: str | None = None
    reference: str | None = None
    urgent: bool = False
    callback_url: str | None = None
    send_at: datetime | None = None
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AcceptBatch:
    """The messages of one API request; accepted together or not at all."""

    account_id: int
    messages: Sequence[NewMessage]
    #: The client's Idempotency-Key: a retry with the same key returns the first result.
    idempotency_key: str | None = None
    #: Fingerprint of the request, to refuse the same key with a different request.
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    message_ids: tuple[int, ...]
    #: The account's balance after the reservation.
    balance: int
    #: True when the idempotency key was seen before and nothing new was written.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class PartToSend:
    """A claimed part: everything a dispatcher needs to build its submit_sm."""

    part_id: int
    message_id: int
    account_id: int
    seqnum: int
    total: int
    sender: str
    destination: str
    body: str
    alphabet: str
    #: The message's reference for its concatenation UDH, the same for all its parts.
    concat_reference: int
    valid_until: datetime | None
    attempts: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What became of one submit_sm."""

    part_id: int
    #: The SMSC's message_id (canonical form) when it took the part.
    smsc_message_id: str | None = None
    #: failed / rejected when it did not; None with an smsc_message_id.
    status: PartStatus | None = None
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingReceipt:
    """A delivery receipt, as the channel received it."""

    channel: str
    #: Lookup keys of the receipted id (mesiji.smpp.receipts.message_id_keys), best first.
    message_id_keys: tuple[str, ...]
    #: The part's new status; None for a non-final state (enroute, accepted, unknown).
    status: PartStatus | None
    error_code: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class StatusChange:
    message_id: int
    account_id: int
    status: MessageStatus
    at: datetime


@dataclass(frozen=True, slots=True)
class CallbackView:
    """One status callback of a message, as the API shows it."""

    attempts: int
    #: Of the callback: pending, delivered or failed.
    status: str
    last_status_code: int | None
    last_error: str | None
    #: The message status it tells; None when its stored body does not say.
    message_status: str | None
    url: str


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message as the API shows it."""

    id: int
    account_id: int
    reference: str | None
    sender: str
    destination: str
    operator: str | None
    channel: str | None
    body: str
    segments: int
    credits: int
    status: MessageStatus
    error_code: str | None
    urgent: bool
    callback_url: str | None
    send_at: datetime | None
    valid_until: datetime | None
    created_at: datetime
    updated_at: datetime
    #: (status, reason, at) of every change, oldest first.
    events: tuple[tuple[str, str | None, datetime], ...] = ()
    #: Its callbacks, oldest first.
    callbacks: tuple[CallbackView, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageQuery:
    status: MessageStatus | None = None
    reference: str | None = None
    destination: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Opaque cursor from the previous page.
    cursor: str | None = None
    limit: int = 100
    #: Read each message's events and callbacks too (two more queries per page).
    with_history: bool = True


class CursorError(ValueError):
    """A listing cursor that is not one the listing returned (forged, truncated, stale format)."""


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    message_id: int | None
    account_id: int
    url: str
    #: JSON text of the callback body.
    payload: str
    attempts: int


@dataclass(frozen=True, slots=True)
class NotificationAttempt:
    """The outcome of one callback attempt, as the notifier records it."""

    notification_id: int
    #: The receiver answered with a 2xx.
    delivered: bool
    #: The HTTP status of the answer; None when no answer came.
    status_code: int | None
    #: Why it was not delivered; None when it was.
    error: str | None
    #: When to try again; None when delivered, or when not delivered and given up.
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class Cancellation:
    """What a request to cancel a message did."""

    #: The message's status after the request: ``cancelled`` when this request cancelled it,
    #: otherwise the status that stopped it (see :func:`mesiji.domain.statuses.cancellable`).
    status: MessageStatus
    #: Whether this request cancelled the message.
    cancelled: bool
    #: The credits given back to the account.
    refunded: int = 0
    changes: tuple[StatusChange, ...] = ()


class MessageStore(Protocol):
    """The message pipeline's storage."""

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        """Reserve the credits and store the messages with their parts, in one transaction.

        Raises InsufficientBalance (nothing written) or Conflict (idempotency key reused
        with a different request).
        """
        ...

    async def claim_parts(
        self, channel: str, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[PartToSend]:
        """Claim queued parts due now (and parts whose lease ran out) for ``channel``."""
        ...

    async def record_submissions(
        self, results: Sequence[SubmitResult], now: datetime
    ) -> list[StatusChange]:
        """Store submit outcomes; apply receipts that were waiting for these message ids."""
        ...

    async def apply_receipts(
        self, receipts: Sequence[IncomingReceipt], now: datetime
    ) -> list[StatusChange]:
        """Match receipts to parts, or keep them until their submit_sm_resp is recorded."""
        ...

    async def get_message(self, account_id: int, message_id: int) -> MessageView | None: ...

    async def list_messages(
        self, account_id: int, query: MessageQuery
    ) -> tuple[list[MessageView], str | None]:
        """A page of messages, newest first, and the cursor of the next page (or None).

        Each message comes with its events and callbacks, as :meth:`get_message` gives them,
        unless ``with_history`` is false.
        A cursor this method did not return raises :class:`CursorError`.
        """
        ...

    async def claim_notifications(
        self, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[Notification]: ...

    async def record_notification_attempts(
        self, attempts: Sequence[NotificationAttempt], now: datetime
    ) -> None:
        """Count each attempt, all in one transaction.

        A notification ends delivered, given up (failed: not delivered and no
        ``next_attempt_at``), or due again at ``next_attempt_at``. Only a pending notification
        changes: a late report from a worker whose lease ran out must not turn a callback
        another worker delivered back into a pending one. Unknown ids are ignored.
        """
        ...


#: What became of one request of a group: its result, or the error that request alone met
#: (InsufficientBalance, Conflict, NotFound, a ValueError for a malformed request, or a
#: StorageUnavailable when it had to be retried on its own after the group committed).
AcceptOutcome = Accepted | StorageError | InsufficientBalance | ValueError


class GroupAcceptStore(Protocol):
    """A :class:`MessageStore` that can also commit the accepts of several requests at once.

    Kept apart from :class:`MessageStore` so that stores without group commit (the in-memory
    fakes of the service tests) still implement the port.
    """

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted: ...

    async def accept_many(
        self, batches: Sequence[AcceptBatch], now: datetime
    ) -> list[AcceptOutcome]:
        """Accept several requests in ONE transaction (one commit, one fsync).

        Each request is applied as :meth:`MessageStore.accept` would, in the order given (by
        account), as if in a savepoint of its own: a request refused for its balance, its
        idempotency key or its account is rolled back alone and its error is returned in its
        slot; the others commit. Later requests see the balance earlier ones left. A failure of
        the transaction itself (StorageUnavailable: locked, disk full, connection lost) is
        raised and means none of them was stored.
        """
        ...


class CancellingStore(Protocol):
    """A :class:`MessageStore` that can cancel messages not yet handed to a dispatcher.

    Kept apart from :class:`MessageStore`, as :class:`GroupAcceptStore` is, so that stores
    without it (the in-memory fakes of the service tests) still implement the port.
    """

    async def get_message(self, account_id: int, message_id: int) -> MessageView | None: ...

    async def list_messages(
        self, account_id: int, query: MessageQuery
    ) -> tuple[list[MessageView], str | None]: ...

    async def cancel_message(
        self, account_id: int, message_id: int, now: datetime
    ) -> Cancellation | None:
        """Cancel the account's message if none of its parts was claimed yet; None when the
        account has no such message.

        In one transaction, and guarded against a dispatcher's claim: the parts move to
        ``cancelled`` only from a status the domain allows (``queued``), all of them or none,
        so a claim and a cancellation never both win. A cancelled message gets its history
        event and callback as any status change does, and its credits back (a refund in the
        balance ledger).
        """
        ...


@dataclass(frozen=True, slots=True)
class GivenUp:
    """What one :meth:`ReceiptWaitStore.give_up_waiting` call did."""

    #: Parts moved to ``unknown``.
    parts: int
    #: The message status changes that followed.
    changes: list[StatusChange]


class ReceiptWaitStore(Protocol):
    """Storage for giving up receipts that never come (:mod:`mesiji.services.receipt_wait`)."""

    async def give_up_waiting(
        self, submitted_before: datetime, now: datetime, limit: int
    ) -> GivenUp:
        """In one transaction, move up to ``limit`` parts submitted before
        ``submitted_before`` and still waiting for their receipt to ``unknown``, once their
        message's validity is over, and settle their messages (status, history, callbacks).
        """
        ...
