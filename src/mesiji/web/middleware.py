"""ASGI middleware: body and URL size limits, and the smsoffice.ge path rules."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesiji.services.errors import ErrorCode
from mesiji.web.smsoffice import TEMPORARY_FAILURE, envelope


def is_smsoffice(scope: Scope) -> bool:
    """Whether the request is for the smsoffice.ge API, whose clients parse only its envelope."""
    path = str(scope.get("path", "")).lower()
    # "/api/" is "/api" once LegacyPaths has taken its trailing slash.
    return path == "/api" or path.startswith("/api/")


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413 before the application sees them.

    The body is read here (at most ``max_bytes``) and replayed to the application, so an
    over-long body is refused whole, whether it declared its length or not. Under ``/api/``
    the refusal is written in the smsoffice.ge envelope its clients parse.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(scope, send, self.max_bytes)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _too_large(scope, send, self.max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, send: Send, max_bytes: int) -> None:
    message = f"the request body is over {max_bytes} bytes"
    response = _refusal(scope, ErrorCode.body_too_large, message)
    response.status_code = 413
    # The rest of the body is not read: the connection cannot carry another request.
    response.headers["connection"] = "close"
    await response(scope, _nothing_to_receive, send)


async def _nothing_to_receive() -> Message:
    return {"type": "http.disconnect"}


def _refusal(scope: Scope, code: ErrorCode, message: str) -> Response:
    if is_smsoffice(scope):
        # smsoffice.ge's clients parse its envelope; it has no code of its own for this.
        return envelope(False, message, TEMPORARY_FAILURE)
    return JSONResponse({"error": {"code": code, "message": message}})


class UrlLimit:
    """Refuse a path and query string over ``max_bytes`` with 414 (RFC 9110 §15.5.15).

    It answers in each API's form, the smsoffice.ge envelope under ``/api/``, below the HTTP
    server's own limit: uvicorn with httptools refuses a URL of 64 KiB or more with a plain-text
    400 before any application sees it. A GET send to a thousand numbers with a long Georgian
    text (about 25 kB) stays under the default of 32 KiB.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # raw_path as sent (percent-encoded); servers that omit it give the decoded path.
            raw_path = scope.get("raw_path") or scope["path"]
            if len(raw_path) + len(scope.get("query_string", b"")) > self.max_bytes:
                message = f"the URL is over {self.max_bytes} bytes"
                response = _refusal(scope, ErrorCode.invalid_request, message)
                response.status_code = 414
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class LegacyPaths:
    """smsoffice.ge clients write paths in any case, with or without a trailing slash.

    Paths under ``/api/`` are matched case-insensitively and without their trailing slash,
    and never redirected (several client libraries do not follow redirects on POST).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if is_smsoffice(scope):
                scope = {**scope, "path": path.lower().rstrip("/") or "/"}
        await self.app(scope, receive, send)
