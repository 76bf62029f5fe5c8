"""The smsoffice.ge-compatible API, so existing client libraries work with a new base URL.

What those clients rely on, and what is kept here: parameters from the query string and the
body together (url-encoded or multipart), unknown parameters ignored, paths in any case with or
without a trailing slash (see :class:`~mesiji.web.middleware.LegacyPaths`), the JSON envelope
``{"Success", "Message", "Output", "ErrorCode"}`` with business errors under HTTP 200, the
balance as a bare integer, and ``01`` as the legacy send.aspx success answer.

Optional send parameters: ``reference`` (the label of status look-ups and callbacks),
``urgent`` (``true``/``1``/``yes``/``on``: the stop list is not applied) and ``scheduledAt``
(Unix time in seconds, as the smsoffice-sdk npm package sends it: the message waits until
then; a time already past sends at once, and a value that is not an integer is refused rather
than sent at the wrong time). docs/smsoffice-compat.md lists the client libraries checked
against this module and what each relies on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mesiji.domain.numbers import split_destination_list
from mesiji.services.accept import Recipient, SendRequest
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage.errors import StorageUnavailable
from mesiji.storage.message_ports import MessageQuery
from mesiji.web.context import WebContext
from mesiji.web.inputs import MAX_REFERENCE, check_texts

#: No message has the reference asked about, or no such endpoint. smsoffice.ge's own code for
#: this is not known; this one is Mesiji's (never 0, which its clients read as success).
NOT_FOUND = 404
#: smsoffice.ge's numeric error codes for Mesiji's error codes.
SMSOFFICE_CODES: dict[ErrorCode, int] = {
    ErrorCode.no_valid_numbers: 10,
    ErrorCode.insufficient_balance: 20,
    ErrorCode.too_long: 40,
    ErrorCode.no_content: 60,
    ErrorCode.no_numbers: 70,
    ErrorCode.stop_listed: 75,
    ErrorCode.unauthorized: 80,
    ErrorCode.sender_invalid: 110,
    ErrorCode.api_disabled: 120,
    ErrorCode.sender_not_found: 150,
    ErrorCode.sender_inactive: 150,
    ErrorCode.key_missing: 500,
    ErrorCode.destination_missing: 600,
    ErrorCode.sender_missing: 700,
    ErrorCode.content_missing: 800,
    ErrorCode.not_found: NOT_FOUND,
}
#: smsoffice.ge's code for anything its other codes do not name: overload, storage, a
#: malformed request.
TEMPORARY_FAILURE = -100
#: Far more than any send takes (key, destination, sender, content and four options); files
#: are never read.
MAX_FORM_FIELDS = 100
MAX_FORM_FILES = 0
_TRUE = {"1", "true", "yes", "on"}
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def envelope(success: bool, message: str, code: int, output: Any = None) -> JSONResponse:
    """smsoffice.ge's answer: keys spelled exactly so, Success a boolean, ErrorCode an int."""
    return JSONResponse(
        {"Success": success, "Message": message, "Output": output, "ErrorCode": code}
    )


def refusal(error: RequestError | StorageUnavailable) -> tuple[str, int]:
    """The message and smsoffice.ge code of a refused request.

    A database that is locked, full or unreachable is smsoffice.ge's temporary failure (-100),
    answered in the envelope like every other refusal: its clients parse nothing else.
    """
    if isinstance(error, StorageUnavailable):
        return "storage is unavailable; retry", TEMPORARY_FAILURE
    return error.message, SMSOFFICE_CODES.get(error.code, TEMPORARY_FAILURE)


async def _params(request: Request) -> dict[str, str]:
    """Query string and body parameters together; the body wins, as in the original.

    A body that cannot be read as a form (a multipart without its boundary, too many fields, a
    file) and a NUL anywhere are refused with :class:`RequestError`.
    """
    params = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and (
        content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    ):
        try:
            form: FormData = await request.form(
                max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS
            )
        except HTTPException as exc:  # Starlette's form parser refusing the body
            raise RequestError(ErrorCode.invalid_request, str(exc.detail)) from exc
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    lowered = {key.lower(): value for key, value in params.items()}
    # The text is left to the accept service, which tells a text of only NULs (empty: 60)
    # from one with a NUL inside (-100); nothing else reads it.
    check_texts((key, value) for key, value in lowered.items() if key != "content")
    return lowered


def _context(request: Request) -> WebContext:
    context: WebContext = request.app.state.context
    return context


async def send(request: Request) -> Response:
    """``/api/v2/send``: one text to a comma-separated destination list."""
    try:
        params = await _params(request)
        await _send(request, params)
    except (RequestError, StorageUnavailable) as exc:
        return envelope(False, *refusal(exc))
    return envelope(True, "Sent", 0)


async def send_legacy(request: Request) -> Response:
    """``/api/send.aspx``: the first API; ``01`` on success, the error code otherwise."""
    try:
        await _send(request, await _params(request))
    except (RequestError, StorageUnavailable) as exc:
        return PlainTextResponse(str(refusal(exc)[1]))
    return PlainTextResponse("01")


async def _send(request: Request, params: dict[str, str]) -> None:
    context = _context(request)
    if not params.get("key"):
        raise RequestError(ErrorCode.key_missing, "key is required")
    account = await context.authenticate(params["key"])
    context.admit_send(account)
    if "destination" not in params:
        raise RequestError(ErrorCode.destination_missing, "destination is required")
    if "sender" not in params:
        raise RequestError(ErrorCode.sender_missing, "sender is required")
    if "content" not in params:
        raise RequestError(ErrorCode.content_missing, "content is required")
    numbers = split_destination_list(params["destination"])
    if len(numbers) > context.max_recipients:
        raise RequestError(
            ErrorCode.invalid_request, f"at most {context.max_recipients} numbers per request"
        )
    text = params["content"]
    reference = params.get("reference") or None
    if reference is not None and len(reference) > MAX_REFERENCE:
        raise RequestError(
            ErrorCode.invalid_request, f"reference is longer than {MAX_REFERENCE} characters"
        )
    await context.accept.send(
        account,
        SendRequest(
            sender=params["sender"],
            recipients=[Recipient(number, text) for number in numbers],
            reference=reference,
            urgent=params.get("urgent", "").strip().lower() in _TRUE,
            send_at=_scheduled_at(params.get("scheduledat", "")),
        ),
    )


def _scheduled_at(value: str) -> datetime | None:
    """``scheduledAt``: Unix seconds, or nothing; anything else is refused, not sent now."""
    value = value.strip()
    if not value:
        return None
    try:
        # ASCII digits only: int() also reads other scripts' digits (Arabic-Indic...) and "1_7".
        if not _UNIX_SECONDS.fullmatch(value):
            raise ValueError(value)
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise RequestError(
            ErrorCode.invalid_send_at, "scheduledAt must be a Unix time in whole seconds"
        ) from exc


async def get_balance(request: Request) -> Response:
    """``/api/getBalance``: the balance as a bare integer."""
    try:
        params = await _params(request)
        context = _context(request)
        balance = await context.balance(await context.authenticate(params.get("key")))
    except (RequestError, StorageUnavailable) as exc:
        return envelope(False, *refusal(exc))
    return PlainTextResponse(str(balance))


async def get_message_status(request: Request) -> Response:
    """``/api/v2/getMessageStatus``: the statuses of a reference's messages."""
    try:
        params = await _params(request)
        context = _context(request)
        account = await context.authenticate(params.get("key"))
        reference = params.get("reference")
        if not reference:
            raise RequestError(ErrorCode.invalid_request, "reference is required")
        destination = context.number_filter(account, params.get("destination"))
        views, _ = await context.messages.list_messages(
            account.id,
            MessageQuery(
                reference=reference, destination=destination, limit=1000, with_history=False
            ),
        )
    except (RequestError, StorageUnavailable) as exc:
        return envelope(False, *refusal(exc))
    output = [
        {
            "Destination": view.destination,
            "Reference": view.reference,
            "Status": view.status.value,
            "StatusText": view.status.label_ka,
            "Operator": view.operator,
            "Timestamp": view.updated_at.isoformat(),
        }
        for view in views
    ]
    if not output:
        return envelope(False, "no message with this reference", NOT_FOUND, [])
    return envelope(True, "OK", 0, output)


routes = [
    Route("/api/v2/send", send, methods=["GET", "POST"]),
    Route("/api/send.aspx", send_legacy, methods=["GET", "POST"]),
    Route("/api/getbalance", get_balance, methods=["GET", "POST"]),
    Route("/api/v2/getbalance", get_balance, methods=["GET", "POST"]),
    Route("/api/v2/getmessagestatus", get_message_status, methods=["GET", "POST"]),
]
