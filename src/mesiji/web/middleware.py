"""ASGI middleware: body size limit and the smsoffice.ge path rules."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesiji.services.errors import ErrorCode
from mesiji.web.smsoffice import TEMPORARY_FAILURE, envelope


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
    response: Response
    if str(scope.get("path", "")).lower().startswith("/api/"):
        # smsoffice.ge's clients parse its envelope; it has no code of its own for this.
        response = envelope(False, message, TEMPORARY_FAILURE)
    else:
        response = JSONResponse({"error": {"code": ErrorCode.body_too_large, "message": message}})
    response.status_code = 413
    # The rest of the body is not read: the connection cannot carry another request.
    response.headers["connection"] = "close"
    await response(scope, _nothing_to_receive, send)


async def _nothing_to_receive() -> Message:
    return {"type": "http.disconnect"}


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
            if path[:5].lower() == "/api/":
                scope = {**scope, "path": path.lower().rstrip("/") or "/"}
        await self.app(scope, receive, send)
