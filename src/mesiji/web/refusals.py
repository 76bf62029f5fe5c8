"""The answers to refused requests and to failures, in each API's form."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage.errors import StorageUnavailable
from mesiji.web.middleware import is_smsoffice
from mesiji.web.smsoffice import NOT_FOUND as SMSOFFICE_NOT_FOUND
from mesiji.web.smsoffice import TEMPORARY_FAILURE, envelope

#: Seconds a client is asked to wait after a 429 or 503.
RETRY_AFTER = "1"


def error_response(code: ErrorCode, message: str, retry_after: int | None = None) -> JSONResponse:
    """The /v1 error body, with the status its code maps to; Retry-After on 429 and 503
    (``retry_after`` whole seconds when known, else :data:`RETRY_AFTER`)."""
    wait = RETRY_AFTER if retry_after is None else str(retry_after)
    headers = {"Retry-After": wait} if code.http_status in (429, 503) else None
    return JSONResponse(
        {"error": {"code": code.value, "message": message}}, code.http_status, headers=headers
    )


async def request_error(request: Request, exc: RequestError) -> Response:
    return error_response(exc.code, exc.message, exc.retry_after)


async def unavailable(request: Request, exc: StorageUnavailable) -> Response:
    return error_response(ErrorCode.unavailable, "storage is unavailable; retry")


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    first = errors[0] if errors else {}
    kind = str(first.get("type", ""))
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    if kind == "extra_forbidden":
        return error_response(ErrorCode.unknown_field, f"unknown field {where!r}")
    if kind in {"json_invalid", "json_type"}:
        return error_response(ErrorCode.invalid_request, "the body is not valid JSON")
    message = str(first.get("msg", "invalid request"))
    return error_response(ErrorCode.invalid_request, f"{where}: {message}" if where else message)


async def http_error(request: Request, exc: HTTPException) -> Response:
    # Under /api/ in smsoffice.ge's envelope, which its clients parse whatever the status.
    smsoffice = is_smsoffice(request.scope)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.url.path}"
        if smsoffice:
            response = envelope(False, message, SMSOFFICE_NOT_FOUND)
            response.status_code = 404
            return response
        return error_response(ErrorCode.not_found, message)
    message = f"{request.method} is not allowed" if exc.status_code == 405 else str(exc.detail)
    response = (
        envelope(False, message, TEMPORARY_FAILURE)
        if smsoffice
        else error_response(ErrorCode.invalid_request, message)
    )
    response.status_code = exc.status_code
    if exc.headers:  # a 405's Allow (RFC 9110 §15.5.6)
        response.headers.update(exc.headers)
    return response


async def unexpected(request: Request, exc: Exception) -> Response:
    """Whatever nothing else handled: a generic 500 in the API's form, never a traceback.

    Starlette's ServerErrorMiddleware calls this and then re-raises ``exc`` for the server to
    log; the client sees only this answer. Every known bad input is refused before it gets here.
    """
    message = "internal error; the request may not have been carried out"
    if is_smsoffice(request.scope):
        response = envelope(False, message, TEMPORARY_FAILURE)
        response.status_code = 500
        return response
    return error_response(ErrorCode.internal_error, message)
