"""The native JSON API under /v1, described by OpenAPI at /openapi.json."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mesiji.domain.numbers import NumberError
from mesiji.domain.statuses import MessageStatus
from mesiji.services.accept import Recipient, SendRequest, SendResult
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage.message_ports import CursorError, MessageQuery, MessageView
from mesiji.storage.records import Account
from mesiji.web import inputs
from mesiji.web.context import WebContext
from mesiji.web.inputs import StrictBody


class PerRecipient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=64)
    text: str = Field(max_length=10_000)


class SendMessages(StrictBody):
    """A send request: one text to ``to`` (a number or a list), or per-recipient ``messages``."""

    model_config = ConfigDict(extra="forbid")
    to: str | list[str] | None = None
    text: str | None = Field(default=None, max_length=10_000)
    messages: list[PerRecipient] | None = None
    sender: str | None = Field(default=None, max_length=32)
    reference: str | None = Field(default=None, max_length=inputs.MAX_REFERENCE)
    # Checked by the accept service, refused with invalid_callback_url.
    callback_url: str | None = Field(
        default=None,
        description="http(s) URL for status callbacks: a host, no user name or password, at "
        "most 2048 characters, not a loopback, private or link-local address",
    )
    send_at: datetime | None = None
    validity: int | None = Field(default=None, description="seconds")
    urgent: bool = False


class MessageOut(BaseModel):
    id: str
    to: str
    status: MessageStatus
    segments: int
    credits: int
    operator: str | None = None


class RejectedOut(BaseModel):
    to: str
    code: str
    message: str


class SendAnswer(BaseModel):
    messages: list[MessageOut]
    rejected: list[RejectedOut]
    balance: int


class EventOut(BaseModel):
    status: str
    reason: str | None
    at: datetime


class CallbackOut(BaseModel):
    attempts: int
    #: Of the callback: pending, delivered or failed.
    status: str
    last_status_code: int | None
    last_error: str | None
    #: The message status this callback tells (null when it cannot be read).
    message_status: str | None
    #: Where it is (or was) sent.
    url: str


class MessageDetail(BaseModel):
    id: str
    reference: str | None
    sender: str
    to: str
    operator: str | None
    text: str
    segments: int
    credits: int
    status: MessageStatus
    error_code: str | None
    created_at: datetime
    updated_at: datetime
    send_at: datetime | None
    valid_until: datetime | None
    events: list[EventOut]
    callbacks: list[CallbackOut]


class MessagePage(BaseModel):
    messages: list[MessageDetail]
    next_cursor: str | None


class StopListNumbers(StrictBody):
    """Numbers to put on the stop list."""

    model_config = ConfigDict(extra="forbid")
    numbers: list[str] = Field(min_length=1, max_length=10_000)


class StopListAdded(BaseModel):
    added: int
    already_listed: int
    rejected: list[RejectedOut]


class StopListPage(BaseModel):
    numbers: list[str]
    #: Pass as ``after`` for the next page; null on the last one.
    next_after: str | None


class Balance(BaseModel):
    balance: int
    price_per_segment: int


class CancelReference(BaseModel):
    """Cancel every message sent with this ``reference`` that can still be cancelled."""

    model_config = ConfigDict(extra="forbid")
    reference: str = Field(min_length=1, max_length=100)


class NotCancellableOut(BaseModel):
    id: str
    status: MessageStatus


class ReferenceCancelled(BaseModel):
    #: Ids of the messages cancelled by this request.
    cancelled: list[str]
    #: SMS credits given back for them.
    refunded: int
    #: Messages of the reference already handed to the SMSC, or ended.
    not_cancellable: list[NotCancellableOut]


async def _context(request: Request) -> WebContext:
    # async: FastAPI runs a plain-function dependency in a worker thread, a thread hop per
    # request for an attribute read.
    context: WebContext = request.app.state.context
    return context


async def _account(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Account:
    if not authorization:
        raise RequestError(ErrorCode.key_missing, "send Authorization: Bearer <API key>")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise RequestError(ErrorCode.unauthorized, "send Authorization: Bearer <API key>")
    context: WebContext = request.app.state.context
    return await context.authenticate(key)


async def _storable(request: Request) -> None:
    # Query and path parameters, and the one header that is stored: a JSON body is checked by
    # its model (StrictBody). Runs before authentication and any database read.
    inputs.check_texts(request.query_params.multi_items())
    inputs.check_texts(request.path_params.items())
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None:
        inputs.check_texts([("Idempotency-Key", idempotency_key)])


Ctx = Annotated[WebContext, Depends(_context)]
Authed = Annotated[Account, Depends(_account)]
router = APIRouter(prefix="/v1", tags=["messages"], dependencies=[Depends(_storable)])
#: Later than this a ``send_at`` is refused: its validity must still fit the calendar.
_LATEST_SEND_AT = datetime(9999, 1, 1, tzinfo=UTC)


@router.post("/messages", status_code=201, response_model=SendAnswer)
async def send_messages(
    body: SendMessages,
    context: Ctx,
    account: Authed,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Send one text to many numbers, or a text per number."""
    status, answer = await accept_messages(context, account, body, idempotency_key)
    return Response(answer, status_code=status, media_type="application/json")


async def accept_messages(
    context: WebContext, account: Account, body: SendMessages, idempotency_key: str | None
) -> tuple[int, bytes]:
    """The send of a validated ``body``: the status (201, or 200 for a replay) and the JSON
    answer; refusals raise :class:`RequestError`.

    Shared by the route above and the fast path (:mod:`mesiji.web.fast`), which serves the
    same requests without FastAPI's machinery.
    """
    context.admit_send(account)
    recipients = _recipients(body, context.max_recipients)
    request_hash = None
    if idempotency_key is not None:
        # What a retry with the same key must repeat; only worth computing when there is one.
        fingerprint = json.dumps(body.model_dump(mode="json"), sort_keys=True)
        request_hash = hashlib.sha256(fingerprint.encode()).hexdigest()
    result = await context.accept.send(
        account,
        SendRequest(
            sender=body.sender,
            recipients=recipients,
            reference=body.reference,
            urgent=body.urgent,
            callback_url=body.callback_url,
            send_at=_send_at(body.send_at),
            validity=_validity(body.validity),
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        ),
    )
    # Serialized here, once: returned as a model, FastAPI would validate it again first.
    return 200 if result.replayed else 201, _send_answer(result).model_dump_json().encode()


@router.get("/messages/{message_id}", response_model=MessageDetail)
async def get_message(message_id: str, context: Ctx, account: Authed) -> MessageDetail:
    """One message with its history and callback attempts."""
    view = None
    wanted = inputs.message_id(message_id)
    if wanted is not None:
        view = await context.messages.get_message(account.id, wanted)
    if view is None:
        raise RequestError(ErrorCode.not_found, f"no message {message_id}")
    return _detail(view)


@router.get("/messages", response_model=MessagePage)
async def list_messages(
    context: Ctx,
    account: Authed,
    *,
    status: MessageStatus | None = None,
    reference: Annotated[str | None, Query(max_length=inputs.MAX_REFERENCE)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MessagePage:
    """Messages, newest first, a page at a time (follow ``next_cursor``).

    ``since`` (inclusive) and ``until`` (exclusive) need a timezone offset; ``to`` takes a
    number in any form a send does.
    """
    query = MessageQuery(
        status=status,
        reference=reference,
        destination=context.number_filter(account, to),
        since=inputs.utc("since", since) if since is not None else None,
        until=inputs.utc("until", until) if until is not None else None,
        cursor=cursor,
        limit=limit,
    )
    try:
        views, next_cursor = await context.messages.list_messages(account.id, query)
    except CursorError as exc:
        raise RequestError(
            ErrorCode.invalid_request, "cursor is not a next_cursor this listing returned"
        ) from exc
    return MessagePage(messages=[_detail(v) for v in views], next_cursor=next_cursor)


@router.get("/balance", response_model=Balance, tags=["account"])
async def balance(context: Ctx, account: Authed) -> Balance:
    """The account's balance in SMS credits."""
    return Balance(
        balance=await context.balance(account), price_per_segment=account.price_per_segment
    )


@router.get("/stop-list", response_model=StopListPage, tags=["stop list"])
async def stop_list(
    context: Ctx,
    account: Authed,
    after: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> StopListPage:
    """The numbers that opted out, sorted, a page at a time (follow ``next_after``)."""
    numbers = await context.accounts.list_stop_list(account.id, after=after, limit=limit + 1)
    more = len(numbers) > limit
    del numbers[limit:]
    return StopListPage(numbers=numbers, next_after=numbers[-1] if more else None)


@router.post("/stop-list", response_model=StopListAdded, tags=["stop list"])
async def add_to_stop_list(body: StopListNumbers, context: Ctx, account: Authed) -> StopListAdded:
    """Put numbers on the stop list: messages to them are refused unless ``urgent``."""
    numbers, rejected = context.parse_numbers(account, body.numbers)
    added = await context.accounts.add_to_stop_list(account.id, numbers)
    context.lookups.stop_list_changed(account.id)
    return StopListAdded(
        added=added,
        already_listed=len(numbers) - added,
        rejected=[RejectedOut(to=r.raw, code=r.code.value, message=r.reason) for r in rejected],
    )


@router.delete("/stop-list/{number}", status_code=204, tags=["stop list"])
async def remove_from_stop_list(number: str, context: Ctx, account: Authed) -> Response:
    """Take a number off the stop list; 404 when it was not on it."""
    try:
        e164 = context.parse_number(account, number)
    except NumberError as exc:
        raise RequestError(ErrorCode.invalid_request, str(exc)) from exc
    removed = await context.accounts.remove_from_stop_list(account.id, [e164])
    context.lookups.stop_list_changed(account.id)
    if not removed:
        raise RequestError(ErrorCode.not_found, f"{e164} is not on the stop list")
    return Response(status_code=204)


@router.post("/messages/cancel", response_model=ReferenceCancelled)
async def cancel_reference(
    body: CancelReference, context: Ctx, account: Authed
) -> ReferenceCancelled:
    """Cancel every message of a ``reference`` not yet handed to the SMSC; 404 when none has
    it. Each is cancelled (or not) on its own, as ``POST /v1/messages/{id}/cancel`` would."""
    if context.cancel is None:
        raise RequestError(ErrorCode.not_found, "cancelling is not offered here")
    done = await context.cancel.cancel_reference(account, body.reference)
    return ReferenceCancelled(
        cancelled=[str(i) for i in done.cancelled],
        refunded=done.refunded,
        not_cancellable=[NotCancellableOut(id=str(i), status=s) for i, s in done.not_cancellable],
    )


@router.post("/messages/{message_id}/cancel", response_model=MessageDetail)
async def cancel_message(message_id: str, context: Ctx, account: Authed) -> MessageDetail:
    """Cancel a scheduled or queued message before any part of it is handed to the SMSC.

    Its credits come back and it ends ``cancelled``, with a history event and a callback.
    404 ``not_found`` for an unknown id (or another account's); 409 ``not_cancellable`` once a
    dispatcher has claimed a part of it, or it has ended.
    """
    number = inputs.message_id(message_id)
    if number is None or context.cancel is None:
        raise RequestError(ErrorCode.not_found, f"no message {message_id}")
    return _detail(await context.cancel.cancel(account, number))


def _send_at(send_at: datetime | None) -> datetime | None:
    if send_at is None:
        return None
    at = inputs.utc("send_at", send_at, code=ErrorCode.invalid_send_at)
    if at >= _LATEST_SEND_AT:
        raise RequestError(ErrorCode.invalid_send_at, "send_at must be before the year 9999")
    return at


def _recipients(body: SendMessages, limit: int) -> list[Recipient]:
    if body.messages is not None:
        if body.to is not None or body.text is not None:
            raise RequestError(
                ErrorCode.invalid_request, "give either messages, or to with text, not both"
            )
        recipients = [Recipient(m.to, m.text) for m in body.messages]
    else:
        if body.to is None:
            raise RequestError(ErrorCode.destination_missing, "to is required")
        if body.text is None:
            raise RequestError(ErrorCode.content_missing, "text is required")
        numbers = [body.to] if isinstance(body.to, str) else body.to
        recipients = [Recipient(number, body.text) for number in numbers]
    if len(recipients) > limit:
        raise RequestError(
            ErrorCode.invalid_request,
            f"at most {limit} recipients per request, not {len(recipients)}",
        )
    return recipients


def _validity(seconds: int | None) -> timedelta | None:
    if seconds is None:
        return None
    try:
        return timedelta(seconds=seconds)
    except OverflowError as exc:  # beyond timedelta's 999,999,999 days: far beyond the limit
        raise RequestError(
            ErrorCode.invalid_validity, "validity must be between 60 seconds and 7 days"
        ) from exc


def _send_answer(result: SendResult) -> SendAnswer:
    return SendAnswer(
        messages=[
            MessageOut(
                id=str(m.id),
                to=m.to,
                status=m.status,
                segments=m.segments,
                credits=m.credits,
                operator=m.operator,
            )
            for m in result.messages
        ],
        rejected=[RejectedOut(to=r.to, code=r.code, message=r.reason) for r in result.rejected],
        balance=result.balance,
    )


def _detail(view: MessageView) -> MessageDetail:
    return MessageDetail(
        id=str(view.id),
        reference=view.reference,
        sender=view.sender,
        to=view.destination,
        operator=view.operator,
        text=view.body,
        segments=view.segments,
        credits=view.credits,
        status=view.status,
        error_code=view.error_code,
        created_at=view.created_at,
        updated_at=view.updated_at,
        send_at=view.send_at,
        valid_until=view.valid_until,
        events=[EventOut(status=s, reason=r, at=at) for s, r, at in view.events],
        callbacks=[
            CallbackOut(
                attempts=c.attempts,
                status=c.status,
                last_status_code=c.last_status_code,
                last_error=c.last_error,
                message_status=c.message_status,
                url=c.url,
            )
            for c in view.callbacks
        ],
    )


__all__: list[Any] = ["router"]
