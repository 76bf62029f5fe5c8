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
from starlette.types import ASGIApp

from mesiji import __version__
from mesiji.services.errors import RequestError
from mesiji.storage.errors import StorageUnavailable
from mesiji.web import smsoffice, v1
from mesiji.web.context import WebContext
from mesiji.web.fast import FastSends
from mesiji.web.middleware import BodyLimit, LegacyPaths, UrlLimit
from mesiji.web.refusals import (
    RETRY_AFTER,
    error_response,
    http_error,
    request_error,
    unavailable,
    unexpected,
    validation_error,
)

__all__ = ["RETRY_AFTER", "create_app", "error_response"]


def create_app(
    context: WebContext,
    *,
    max_body_bytes: int = 1_048_576,
    max_url_bytes: int = 32_768,
    health: Callable[[], Awaitable[bool]] | None = None,
    metrics: CollectorRegistry | None = None,
    telemetry: bool = False,
    fast_send: bool = True,
) -> FastAPI:
    """The application, wired to ``context``; ``health`` feeds /healthz, and /metrics renders
    the ``metrics`` registry.

    Bodies over ``max_body_bytes`` are refused with 413, paths with their query string over
    ``max_url_bytes`` with 414.

    ``telemetry`` turns on FastAPI's OpenTelemetry traces, metrics and logs, which report to
    an OpenTelemetry SDK configured in the process.

    ``fast_send`` serves the send endpoints without FastAPI's machinery, with the same
    answers (:mod:`mesiji.web.fast`); off, FastAPI's routes serve them (for the benchmark).
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

    app.add_exception_handler(RequestError, request_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(StorageUnavailable, unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
    app.add_middleware(LegacyPaths)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(UrlLimit, max_bytes=max_url_bytes)
    if fast_send:
        build = app.build_middleware_stack

        def with_fast_sends() -> ASGIApp:
            # In front of everything, ServerErrorMiddleware included: what FastSends hands
            # over meets the whole stack as any request does.
            return FastSends(
                build(), context, max_body_bytes=max_body_bytes, max_url_bytes=max_url_bytes
            )

        app.build_middleware_stack = with_fast_sends  # type: ignore[method-assign]
    return app
