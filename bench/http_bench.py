"""CPU per ``POST /v1/messages`` request through each HTTP layer, in process (no sockets).

Each variant is an ASGI application called directly with a prepared scope, a ``receive`` that
hands over the body and a ``send`` that keeps the status: what is measured is the HTTP layer
and what it calls, not a server or a socket. Every variant serves the same request (one
message, a valid key, sender ``Shop``) on the same context: a SQLite database as the tests
build it, the key checked through the real cached lookups, and the accept step replaced by
one stub on every variant (it returns a fixed result), so only the HTTP layer differs:

- ``fastapi``: the FastAPI route as it was (pydantic body model, ``Depends`` for the context
  and the key, ``Header`` parameters), under the application's middleware
  (``create_app(fast_send=False)``);
- ``starlette+msgspec``: a Starlette ``Route`` reading the body and decoding it with msgspec,
  under the same middleware, with the same exception handlers;
- ``asgi+msgspec``: a bare ASGI callable in front of everything, msgspec decoding;
- ``asgi+pydantic``: the same bare callable, the body validated by the pydantic model with
  ``model_validate_json`` (no FastAPI);
- ``mesiji``: the application as ``create_app`` builds it now.

The prototype variants do the happy path only (auth header, decode, stub, encode); ``mesiji``
does every check. ``--real`` swaps the stub for the real accept service (SQLite writes
included) to show the share of the HTTP layer in a whole request. Destination numbers have their own
benchmark, ``bench/numbers_bench.py``.

    .venv/bin/python bench/http_bench.py [-n 5000] [--rounds 5] [--real]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesiji.domain.keys import generate_api_key
from mesiji.domain.statuses import MessageStatus
from mesiji.services.accept import (
    AcceptedMessage,
    AcceptService,
    Recipient,
    SendRequest,
    SendResult,
)
from mesiji.services.errors import RequestError
from mesiji.services.lookups import AccountLookups
from mesiji.settings import ChannelSettings
from mesiji.storage.engine import default_sqlite_url
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.records import Account, NewAccount, SenderStatus
from mesiji.storage.sql import open_store
from mesiji.testing import VirtualClock
from mesiji.web import refusals
from mesiji.web.app import create_app
from mesiji.web.context import WebContext
from mesiji.web.middleware import BodyLimit, LegacyPaths, UrlLimit
from mesiji.web.v1 import SendMessages

BODY = json.dumps({"to": "599123456", "sender": "Shop", "text": "hello"}).encode()


class StubAccept:
    """The accept step of every variant: a fixed one-message answer, the request counted."""

    def __init__(self) -> None:
        self.calls = 0
        self._result = SendResult(
            [AcceptedMessage(1, "995599123456", "Magti", 1, 1, MessageStatus.QUEUED)],
            balance=99,
        )

    async def send(self, account: Account, request: SendRequest) -> SendResult:
        assert request.recipients
        self.calls += 1
        return self._result


class SendBody(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The prototype variants' body: the send request's fields."""

    to: str | list[str] | None = None
    text: str | None = None
    sender: str | None = None
    reference: str | None = None
    urgent: bool = False


class Out(msgspec.Struct):
    id: str
    to: str
    status: str
    segments: int
    credits: int
    operator: str | None


class Answer(msgspec.Struct):
    messages: list[Out]
    rejected: list[Any]
    balance: int


_decode = msgspec.json.Decoder(SendBody).decode
_encode = msgspec.json.Encoder().encode


def _answer(result: SendResult) -> bytes:
    out = [
        Out(str(m.id), m.to, m.status.value, m.segments, m.credits, m.operator)
        for m in result.messages
    ]
    return _encode(Answer(out, [], result.balance))


async def _prototype_send(context: WebContext, authorization: str, body: SendBody) -> bytes:
    _, _, key = authorization.partition(" ")
    account = await context.authenticate(key)
    to = [body.to] if isinstance(body.to, str) else body.to or []
    result = await context.accept.send(
        account,
        SendRequest(
            body.sender,
            [Recipient(n, body.text or "") for n in to],
            reference=body.reference,
            urgent=body.urgent,
        ),
    )
    return _answer(result)


def starlette_msgspec(context: WebContext) -> ASGIApp:
    async def send_messages(request: Request) -> Response:
        body = _decode(await request.body())
        answer = await _prototype_send(context, request.headers["authorization"], body)
        return Response(answer, 201, media_type="application/json")

    return Starlette(
        routes=[Route("/v1/messages", send_messages, methods=["POST"])],
        middleware=[
            Middleware(UrlLimit, max_bytes=32_768),
            Middleware(BodyLimit, max_bytes=1_048_576),
            Middleware(LegacyPaths),
        ],
        exception_handlers={RequestError: refusals.request_error},  # type: ignore[dict-item]
    )


def bare_asgi(
    context: WebContext, decode: Callable[[bytes], Any], fallback: ASGIApp
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/v1/messages" or scope["method"] != "POST":
            await fallback(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        answer = await _prototype_send(context, authorization, decode(b"".join(chunks)))
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def _pydantic_decode(raw: bytes) -> SendBody:
    model = SendMessages.model_validate_json(raw)
    return SendBody(model.to, model.text, model.sender, model.reference, model.urgent)


async def _drive(app: ASGIApp, key: str, n: int) -> float:
    """CPU seconds for ``n`` requests; every answer must be a 201."""
    headers = [
        (b"host", b"mesiji.test"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
        (b"authorization", f"Bearer {key}".encode()),
    ]
    template: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/messages",
        "raw_path": b"/v1/messages",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("mesiji.test", 80),
    }
    request: Message = {"type": "http.request", "body": BODY, "more_body": False}
    statuses: list[int] = []

    async def receive() -> Message:
        return request

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(n):
        await app(dict(template), receive, send)
    spent = time.process_time() - started
    assert statuses == [201] * n, statuses[:3]
    return spent


async def _context(directory: Path, real: bool) -> tuple[WebContext, str, Any]:
    clock = VirtualClock()
    store = await open_store(default_sqlite_url(directory), clock=clock)
    messages = SqlMessageStore(store.engine)
    account = await store.create_account(NewAccount(name="Bench", website="bench.ge"))
    await store.add_credits(account.id, 10_000_000, "bench")
    key = generate_api_key()
    await store.create_api_key(account.id, key.key_hash, key.prefix, "bench")
    await store.set_sender(account.id, "Shop", SenderStatus.ACTIVE)
    lookups = AccountLookups(store, clock, ttl=3600.0)
    accept: Any = (
        AcceptService(lookups, messages, ChannelSettings(), clock) if real else StubAccept()
    )
    return WebContext(store, lookups, messages, accept, clock), key.secret, store


async def http(n: int, rounds: int, real: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        context, key, store = await _context(Path(directory), real)
        fastapi = create_app(context, fast_send=False)
        variants: dict[str, ASGIApp] = {
            "fastapi": fastapi,
            "starlette+msgspec": starlette_msgspec(context),
            "asgi+msgspec": bare_asgi(context, _decode, fastapi),
            "asgi+pydantic": bare_asgi(context, _pydantic_decode, fastapi),
            "mesiji": create_app(context),
        }
        if real:  # the prototypes skip checks the real service would refuse them for
            variants = {k: v for k, v in variants.items() if k in {"fastapi", "mesiji"}}
        for app in variants.values():
            await _drive(app, key, 200)  # warm-up: caches, first-call imports
        spent: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):  # alternated, so the machine's noise falls on all alike
            for name, app in variants.items():
                spent[name].append(await _drive(app, key, n) / n * 1e6)
        await store.close()
    base = statistics.median(spent["fastapi"])
    what = "real accept on SQLite" if real else "stub accept"
    print(f"POST /v1/messages, {what}, {n} requests x {rounds} rounds (median, min) CPU µs/request")
    for name, values in spent.items():
        median = statistics.median(values)
        print(f"  {name:18} {median:8.1f} {min(values):8.1f}   x{median / base:.2f} of fastapi")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="requests per round and variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--real", action="store_true", help="the real accept service")
    args = parser.parse_args()
    asyncio.run(http(args.n, args.rounds, args.real))


if __name__ == "__main__":
    main()
