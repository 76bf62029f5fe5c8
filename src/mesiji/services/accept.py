"""Accepting a send request: validate, price, reserve and commit, or refuse with a code.

Nothing is written unless the whole request is accepted: numbers, sender, texts and length are
checked first, then one storage transaction reserves the credits and stores every message
(:meth:`MessageStore.accept`, or a group commit shared with concurrent requests through
:class:`~mesiji.services.group_commit.AcceptBatcher`). The answer goes back only after that
commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from mesiji.clock import Clock
from mesiji.domain import credits as domain_credits
from mesiji.domain.callback_urls import CallbackUrlError, DestinationPolicy, check_callback_url
from mesiji.domain.numbers import NumberError as _NumberError
from mesiji.domain.numbers import parse_destination
from mesiji.domain.senders import valid_sender_name
from mesiji.domain.statuses import MessageStatus
from mesiji.domain.storable import (
    MAX_REFERENCE,
    UnstorableValue,
    check_datetime,
    check_integer,
    check_text,
    has_content,
)
from mesiji.errors import Overloaded
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.services.group_commit import AcceptBatcher
from mesiji.services.lookups import AccountLookups
from mesiji.settings import ChannelSettings
from mesiji.storage import errors as storage_errors
from mesiji.storage.message_ports import AcceptBatch, MessageStore, NewMessage
from mesiji.storage.records import Account, SenderStatus
from mesiji.text import Alphabet, choose_alphabet, count_segments

T = TypeVar("T")

#: The longest validity a message may ask for: SMSCs cap it at days anyway.
MAX_VALIDITY = timedelta(days=7)
#: The longest Idempotency-Key a request may carry (references: storable.MAX_REFERENCE;
#: callback URLs: mesiji.domain.callback_urls).
MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True, slots=True)
class Recipient:
    """One destination as the client wrote it, with the text for it."""

    to: str
    text: str


@dataclass(frozen=True, slots=True)
class SendRequest:
    sender: str | None
    recipients: Sequence[Recipient]
    reference: str | None = None
    urgent: bool = False
    callback_url: str | None = None
    send_at: datetime | None = None
    validity: timedelta | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    id: int
    to: str
    operator: str | None
    segments: int
    credits: int
    status: MessageStatus


@dataclass(frozen=True, slots=True)
class RefusedRecipient:
    """A destination that was not accepted: as written, a stable code, and why."""

    to: str
    #: A mesiji.domain.numbers.NumberErrorCode value, or "stop_listed".
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class SendResult:
    messages: list[AcceptedMessage]
    rejected: list[RefusedRecipient] = field(default_factory=list)
    balance: int = 0
    replayed: bool = False


class AcceptService:
    """Turns send requests into committed messages."""

    def __init__(
        self,
        lookups: AccountLookups,
        messages: MessageStore,
        channel: ChannelSettings,
        clock: Clock,
        *,
        default_region: str = "GE",
        max_parts: int = 16,
        on_accepted: Callable[[], None] | None = None,
        batcher: AcceptBatcher | None = None,
        callback_policy: DestinationPolicy | None = None,
    ) -> None:
        self._lookups = lookups
        # Which callback URLs are refused on sight (the same rule the notifier applies).
        self._callback_policy = callback_policy or DestinationPolicy()
        # Through the batcher (group commit) when there is one, else a transaction per request.
        self._store_batch = batcher.accept if batcher is not None else messages.accept
        self._channel = channel
        self._clock = clock
        self._default_region = default_region
        self._max_parts = max_parts
        self._on_accepted = on_accepted
        #: Messages accepted (replayed requests not counted again), for metrics.
        self.accepted = 0

    async def send(self, account: Account, request: SendRequest) -> SendResult:
        """Accept ``request`` for ``account`` or raise :class:`RequestError`."""
        try:
            return await self._send(account, request)
        except storage_errors.StorageUnavailable as exc:
            # The lookups or the commit: either way the client may retry the whole request.
            raise RequestError(ErrorCode.unavailable, "storage is unavailable; retry") from exc

    async def _send(self, account: Account, request: SendRequest) -> SendResult:
        if not account.api_enabled:
            raise RequestError(ErrorCode.api_disabled, "the API is not enabled for this account")
        if request.callback_url is not None:
            _check_callback_url(request.callback_url, self._callback_policy)
        sender = await self._check_sender(account, request.sender)
        if not request.recipients:
            raise RequestError(ErrorCode.no_numbers, "no destination numbers were given")
        _check_fields(request)
        now = self._clock.now()
        send_at, valid_until = _schedule(request, now)
        accepted, rejected = self._parse_recipients(account, request.recipients)
        if not request.urgent and accepted:
            accepted, rejected = await self._drop_stop_listed(account, accepted, rejected)
        if not accepted:
            raise _nothing_to_send(rejected)
        new_messages = [
            self._price(
                account,
                request,
                sender=sender,
                destination=destination,
                operator=operator,
                text=text,
                send_at=send_at,
                valid_until=valid_until,
            )
            for destination, operator, text in accepted
        ]
        try:
            result = await self._store_batch(
                AcceptBatch(
                    account_id=account.id,
                    messages=new_messages,
                    idempotency_key=request.idempotency_key,
                    request_hash=request.request_hash,
                ),
                now,
            )
        except storage_errors.InsufficientBalance as exc:
            needed = sum(m.credits for m in new_messages)
            raise RequestError(
                ErrorCode.insufficient_balance,
                f"the balance does not cover {needed} SMS credit(s) for this request",
            ) from exc
        except storage_errors.Conflict as exc:
            raise RequestError(
                ErrorCode.idempotency_conflict,
                "this Idempotency-Key was used with a different request",
            ) from exc
        except Overloaded as exc:
            raise RequestError(
                ErrorCode.too_many_requests, "the gateway is overloaded; retry shortly"
            ) from exc
        except storage_errors.StorageUnavailable:
            raise  # answered 503 by send()
        except (storage_errors.StorageError, ValueError) as exc:
            # Refused by the database alone, its group's companions committed without it: a
            # value the checks above let through. Nothing of this request was stored.
            raise RequestError(
                ErrorCode.unstorable, "the request could not be stored; nothing was written"
            ) from exc
        if not result.replayed:
            self.accepted += len(result.message_ids)
            if self._on_accepted is not None:
                self._on_accepted()
        status = MessageStatus.SCHEDULED if send_at is not None else MessageStatus.QUEUED
        return SendResult(
            messages=[
                AcceptedMessage(i, m.destination, m.operator, m.segments, m.credits, status)
                for i, m in zip(result.message_ids, new_messages, strict=True)
            ],
            rejected=rejected,
            balance=result.balance,
            replayed=result.replayed,
        )

    async def _check_sender(self, account: Account, sender: str | None) -> str:
        if not sender:
            raise RequestError(ErrorCode.sender_missing, "a sender is required")
        if not valid_sender_name(sender):
            raise RequestError(
                ErrorCode.sender_invalid,
                f"{sender!r} is not a sender ID (up to 11 letters and digits) or a number",
            )
        record = await self._lookups.sender(account.id, sender)
        if record is None:
            raise RequestError(
                ErrorCode.sender_not_found, f"sender {sender!r} is not registered for this account"
            )
        if record.status is not SenderStatus.ACTIVE:
            raise RequestError(
                ErrorCode.sender_inactive,
                f"sender {sender!r} is {record.status.value}: the mobile operators have not "
                "authorized it yet, so sending with it is refused",
            )
        return sender

    def _parse_recipients(
        self, account: Account, recipients: Sequence[Recipient]
    ) -> tuple[list[tuple[str, str | None, str]], list[RefusedRecipient]]:
        allowed = frozenset(account.allowed_regions)
        accepted: list[tuple[str, str | None, str]] = []
        rejected: list[RefusedRecipient] = []
        seen: set[tuple[str, str]] = set()
        for recipient in recipients:
            if not has_content(recipient.text):
                raise RequestError(ErrorCode.no_content, "the message text is empty")
            _checked(ErrorCode.invalid_text, check_text, recipient.text, field="text")
            try:
                destination = parse_destination(
                    recipient.to, allowed_regions=allowed, default_region=self._default_region
                )
            except _NumberError as exc:
                rejected.append(RefusedRecipient(recipient.to, exc.code.value, str(exc)))
                continue
            key = (destination.e164, recipient.text)
            if key not in seen:
                seen.add(key)
                accepted.append((destination.e164, destination.operator, recipient.text))
        return accepted, rejected

    async def _drop_stop_listed(
        self,
        account: Account,
        accepted: list[tuple[str, str | None, str]],
        rejected: list[RefusedRecipient],
    ) -> tuple[list[tuple[str, str | None, str]], list[RefusedRecipient]]:
        listed = await self._lookups.stop_listed(account.id, {a[0] for a in accepted})
        if not listed:
            return accepted, rejected
        kept = [a for a in accepted if a[0] not in listed]
        refused = [
            RefusedRecipient(number, STOP_LISTED, f"{number} is on the stop list (opted out)")
            for number in sorted(listed)
        ]
        return kept, [*rejected, *refused]

    def _price(
        self,
        account: Account,
        request: SendRequest,
        *,
        sender: str,
        destination: str,
        operator: str | None,
        text: str,
        send_at: datetime | None,
        valid_until: datetime | None,
    ) -> NewMessage:
        alphabet = choose_alphabet(text, allow_latin1=self._channel.allow_latin1)
        count = count_segments(text, alphabet, udh16=self._channel.concat == "udh16")
        parts = 1 if self._channel.concat == "payload" else count.segments
        if count.segments > self._max_parts:
            raise RequestError(
                ErrorCode.too_long,
                f"the text takes {count.segments} SMS parts "
                f"({_alphabet_name(alphabet)}); at most {self._max_parts} are allowed",
            )
        credits = domain_credits.message_cost(count.segments, account.price_per_segment)
        # messages.credits is an INTEGER column (32 bits on PostgreSQL).
        _checked(ErrorCode.unstorable, check_integer, credits, field="the price", bits=32)
        return NewMessage(
            sender=sender,
            destination=destination,
            body=text,
            alphabet=alphabet.value,
            segments=parts,
            credits=credits,
            channel=self._channel.name,
            operator=operator,
            reference=request.reference,
            urgent=request.urgent,
            callback_url=request.callback_url,
            send_at=send_at,
            valid_until=valid_until,
        )


#: The code reported for a stop-listed number, beside the number codes of domain.numbers.
STOP_LISTED = "stop_listed"


def _nothing_to_send(rejected: list[RefusedRecipient]) -> RequestError:
    if rejected and all(r.code == STOP_LISTED for r in rejected):
        return RequestError(ErrorCode.stop_listed, "every number is on the stop list")
    reasons = "; ".join(r.reason for r in rejected[:5])
    return RequestError(ErrorCode.no_valid_numbers, f"no valid destination number: {reasons}")


def _check_callback_url(url: str, policy: DestinationPolicy) -> None:
    # Refused now rather than failed ten times later; a name is checked when it is sent to.
    try:
        check_callback_url(url, policy)
    except CallbackUrlError as exc:
        raise RequestError(ErrorCode.invalid_callback_url, str(exc)) from exc


def _check_fields(request: SendRequest) -> None:
    """Refuse values of the request that a database would refuse (:mod:`mesiji.domain.storable`)
    before anything is stored: in a group commit they would fail the companions' transaction."""
    for code, value, name, limit in (
        (ErrorCode.invalid_reference, request.reference, "reference", MAX_REFERENCE),
        (
            ErrorCode.invalid_idempotency_key,
            request.idempotency_key,
            "Idempotency-Key",
            MAX_IDEMPOTENCY_KEY,
        ),
    ):
        if value is not None:
            _checked(code, check_text, value, field=name, max_length=limit)


def _schedule(request: SendRequest, now: datetime) -> tuple[datetime | None, datetime | None]:
    send_at = request.send_at
    if send_at is not None:
        # Aware and within the calendar both engines hold, even when past: 0001-01-01+14:00
        # cannot be converted to UTC at all.
        send_at = _checked(ErrorCode.invalid_send_at, check_datetime, send_at, field="send_at")
        if send_at <= now:
            send_at = None  # due already: send now
    valid_until = None
    if request.validity is not None:
        if not timedelta(minutes=1) <= request.validity <= MAX_VALIDITY:
            raise RequestError(
                ErrorCode.invalid_validity, "validity must be between 60 seconds and 7 days"
            )
        valid_until = _checked(
            ErrorCode.invalid_validity,
            check_datetime,
            (send_at or now) + request.validity,
            field="send_at + validity",
        )
    return send_at, valid_until


def _checked(code: ErrorCode, check: Callable[..., T], value: T, **options: Any) -> T:
    """``check(value, **options)``, an :class:`UnstorableValue` refused with ``code``."""
    try:
        return check(value, **options)
    except UnstorableValue as exc:
        raise RequestError(code, str(exc)) from exc


def _alphabet_name(alphabet: Alphabet) -> str:
    return {Alphabet.gsm7: "Latin (GSM-7)", Alphabet.ucs2: "Unicode", Alphabet.latin1: "Latin-1"}[
        alphabet
    ]


__all__ = [
    "AcceptService",
    "AcceptedMessage",
    "Recipient",
    "SendRequest",
    "SendResult",
]
