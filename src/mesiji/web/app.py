"""The ASGI application: both APIs, operations endpoints, and the error mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesiji import __version__
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage.errors import StorageUnavailable
from mesiji.web import smsoffice, v1
from mesiji.web.context import WebContext
from mesiji.web.middleware import BodyLimit, LegacyPaths, UrlLimit, is_smsoffice
from mesiji.web.smsoffice import NOT_FOUND as SMSOFFICE_NOT_FOUND
from mesiji.web.smsoffice import TEMPORARY_FAILURE, envelope

#: Seconds a client is asked to wait after a 429 or 503.
RETRY_AFTER = "1"


def create_app(
    context: WebContext,
    *,
    max_body_bytes: int = 1_048_576,
    max_url_bytes: int = 32_768,
    health: Callable[[], Awaitable[bool]] | None = None,
    metrics: CollectorRegistry | None = None,
    telemetry: bool = False,
) -> FastAPI:
    """The application, wired to ``context``; ``health`` feeds /healthz, and /metrics renders
    the ``metrics`` registry.

    Bodies over ``max_body_bytes`` are refused with 413, paths with their query string over
    ``max_url_bytes`` with 414.

    ``telemetry`` turns on FastAPI's OpenTelemetry traces, metrics and logs, which report to
    an OpenTelemetry SDK configured in the process.
    """
    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from files the package
    # ships (served under /static-offline-docs), not from a CDN, so they work offline.
    app = FastAPIOffline(
        title="Mesiji",
        version=__version__,
        description="Bulk SMS over SMPP 3.4: send, track delivery, get callbacks.",
        redirect_slashes=False,
        # FastAPI's OpenTelemetry instrumentation checks for a configured provider on every
        # request (measured at 4% of the gateway's CPU); /metrics is the gateway's own.
        telemetry=None if telemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.context = context
    app.include_router(v1.router)
    for route in smsoffice.routes:
        app.router.routes.append(route)

    async def healthz(request: Request) -> Response:
        ok = await health() if health is not None else True
        return JSONResponse({"status": "ok" if ok else "unavailable"}, 200 if ok else 503)

    async def prometheus(request: Request) -> Response:
        # The format the scraper asks for: Prometheus text, or OpenMetrics.
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        body = encoder(metrics) if metrics is not None else b""
        return Response(body, media_type=content_type)

    app.router.routes.append(Route("/healthz", healthz))
    app.router.routes.append(Route("/metrics", prometheus))

    app.add_exception_handler(RequestError, _request_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(StorageUnavailable, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(LegacyPaths)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(UrlLimit, max_bytes=max_url_bytes)
    return app


def error_response(code: ErrorCode, message: str, retry_after: int | None = None) -> JSONResponse:
    """The /v1 error body, with the status its code maps to; Retry-After on 429 and 503
    (``retry_after`` whole seconds when known, else :data:`RETRY_AFTER`)."""
    wait = RETRY_AFTER if retry_after is None else str(retry_after)
    headers = {"Retry-After": wait} if code.http_status in (429, 503) else None
    return JSONResponse(
        {"error": {"code": code.value, "message": message}}, code.http_status, headers=headers
    )


async def _request_error(request: Request, exc: RequestError) -> Response:
    return error_response(exc.code, exc.message, exc.retry_after)


async def _unavailable(request: Request, exc: StorageUnavailable) -> Response:
    return error_response(ErrorCode.unavailable, "storage is unavailable; retry")


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
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


async def _http_error(request: Request, exc: HTTPException) -> Response:
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


async def _unexpected(request: Request, exc: Exception) -> Response:
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
