"""The send endpoints served by a bare ASGI handler in front of the application.

``POST /v1/messages``, ``/api/v2/send`` and ``/api/send.aspx`` carry nearly all of the
gateway's traffic. Through FastAPI a send cost about 150 µs of CPU before any work of its own
(middleware, routing, dependency solving, body parsing, validation: docs/decisions.md); here
it costs about 10. Nothing about the answers changes, because this path only serves what it
is sure of and hands everything else, untouched, to the full application:

- the URL and body limits are those of :mod:`mesiji.web.middleware`; a request over either,
  or whose body is not replayable as read, goes to the application, which refuses it;
- a /v1 send is served here only when its form is the common one: no query string, exactly
  ``Content-Type: application/json``, a ``Bearer`` key, a storable ``Idempotency-Key`` of at
  most 200 characters, and a body that the route's own pydantic model accepts. Any other
  request, including every one that FastAPI would refuse before the key is checked, is the
  application's to answer, in its order (body, then key, then fields);
- smsoffice.ge sends call the very handlers of :mod:`mesiji.web.smsoffice`, without the
  router and middleware stack around them.

Nothing with an effect (the key lookup, the rate limit, the accept) happens before the choice,
so a request handed over is answered as if this module did not exist. The routes stay in the
application too: they describe the API in /openapi.json and /docs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage.errors import StorageUnavailable
from mesiji.web import smsoffice, v1
from mesiji.web.context import WebContext
from mesiji.web.inputs import unstorable
from mesiji.web.middleware import is_smsoffice
from mesiji.web.refusals import error_response, unexpected

__all__ = ["FastSends"]

_SMSOFFICE: dict[str, Callable[[Request], Awaitable[Response]]] = {
    "/api/v2/send": smsoffice.send,
    "/api/send.aspx": smsoffice.send_legacy,
}
_MAX_IDEMPOTENCY_KEY = 200
_JSON_HEADERS = [(b"content-type", b"application/json")]


class FastSends:
    """An ASGI application serving the send endpoints and handing every other request to
    ``app`` (the full application, built with the same limits)."""

    def __init__(
        self, app: ASGIApp, context: WebContext, *, max_body_bytes: int, max_url_bytes: int
    ) -> None:
        self.app = app
        self.context = context
        self.max_body_bytes = max_body_bytes
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/v1/messages":
            if method != "POST" or not self._url_fits(scope):
                await self.app(scope, receive, send)
                return
            await self._with_body(scope, receive, send, self._v1)
            return
        if is_smsoffice(scope):
            # LegacyPaths' reading: any case, with or without a trailing slash.
            handler = _SMSOFFICE.get(path.lower().rstrip("/"))
            if handler is not None and method in {"GET", "POST"} and self._url_fits(scope):

                async def serve(scope: Scope, body: bytes, send: Send) -> bool:
                    return await self._smsoffice(handler, scope, body, send)

                await self._with_body(scope, receive, send, serve)
                return
        await self.app(scope, receive, send)

    def _url_fits(self, scope: Scope) -> bool:
        raw_path = scope.get("raw_path") or scope["path"]
        return len(raw_path) + len(scope.get("query_string", b"")) <= self.max_url_bytes

    async def _with_body(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        serve: Callable[[Scope, bytes, Send], Awaitable[bool]],
    ) -> None:
        """Read the body as :class:`~mesiji.web.middleware.BodyLimit` does, then ``serve`` it;
        the application gets the request, body replayed, when ``serve`` declines or the
        body is over the limit."""
        for name, value in scope["headers"]:
            if name == b"content-length" and (
                not value.isdigit() or int(value) > self.max_body_bytes
            ):
                await self.app(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # as BodyLimit: nobody to answer
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                break
        body = b"".join(chunks)
        if not more and await serve(scope, body, send):
            return
        await self.app(scope, _replay(body, more, receive), send)

    async def _v1(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Serve ``POST /v1/messages`` when its form is the common one; False, having done
        nothing, when the application must answer it."""
        if scope.get("query_string") or not body:
            return False
        content_type = authorization = idempotency_key = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                if content_type is not None:
                    return False
                content_type = value
            elif name == b"authorization":
                if authorization is not None:
                    return False
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                if idempotency_key is not None:
                    return False
                idempotency_key = value.decode("latin-1")
        if content_type != b"application/json" or authorization is None:
            return False
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        if idempotency_key is not None and (
            len(idempotency_key) > _MAX_IDEMPOTENCY_KEY or unstorable(idempotency_key)
        ):
            return False
        try:
            model = v1.SendMessages.model_validate_json(body)
        except ValidationError:
            return False
        context = self.context
        try:
            account = await context.authenticate(key)
            status, answer = await v1.accept_messages(context, account, model, idempotency_key)
        except RequestError as exc:
            await _respond(scope, send, error_response(exc.code, exc.message, exc.retry_after))
            return True
        except StorageUnavailable:
            refusal = error_response(ErrorCode.unavailable, "storage is unavailable; retry")
            await _respond(scope, send, refusal)
            return True
        except Exception:
            await _respond(scope, send, await unexpected(Request(scope), Exception()))
            raise
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", str(len(answer)).encode()), *_JSON_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": answer})
        return True

    async def _smsoffice(
        self,
        handler: Callable[[Request], Awaitable[Response]],
        scope: Scope,
        body: bytes,
        send: Send,
    ) -> bool:
        """Serve an smsoffice.ge send with its own handler; it answers every refusal itself."""
        replayed = _replay(body, False, _nothing_more)
        request = Request(scope, replayed)
        try:
            response = await handler(request)
        except Exception:
            await _respond(scope, send, await unexpected(request, Exception()))
            raise
        await response(scope, replayed, send)
        return True


async def _respond(scope: Scope, send: Send, response: Response) -> None:
    await response(scope, _nothing_more, send)


async def _nothing_more() -> Message:
    return {"type": "http.disconnect"}


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """``receive`` with ``body``, already read from it, handed out first."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
