"""The notifier against a real HTTP server on 127.0.0.1: signatures, retries, the GET form."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from mesiji.domain.keys import SIGNATURE_HEADER, verify_webhook_signature
from mesiji.services.notify import Notifier, callback_request
from mesiji.settings import WebhookSettings
from mesiji.storage.message_ports import Notification
from mesiji.testing import VirtualClock, eventually

from .callback_server import CallbackServer
from .fakes import FakeMessageStore, FakeNotification

SECRET = "whsec_test-secret"
NotifierFactory = Callable[..., Notifier]


@pytest.fixture
async def server() -> AsyncIterator[CallbackServer]:
    callbacks = CallbackServer()
    yield callbacks
    await callbacks.close()


@pytest.fixture
async def make_notifier(
    clock: VirtualClock, store: FakeMessageStore
) -> AsyncIterator[NotifierFactory]:
    made: list[Notifier] = []

    async def secret_for(account_id: int) -> str | None:
        return SECRET if account_id == 1 else None

    def factory(**options: Any) -> Notifier:
        settings = WebhookSettings(**options.pop("settings", {}))
        options.setdefault("poll_interval", 1.0)
        notifier = Notifier(
            store, settings, secret_for=secret_for, clock=clock, owner="test", **options
        )
        made.append(notifier)
        notifier.start()
        return notifier

    yield factory
    for notifier in made:
        await notifier.stop()


def add(store: FakeMessageStore, clock: VirtualClock, url: str, payload: Any) -> FakeNotification:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return store.add_notification(1, url, text, clock.now())


async def test_callback_is_a_signed_json_post(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    payload = json.dumps({"message_id": 5, "status": "delivered", "text": "მიტანილია"})
    notification = add(store, clock, f"{base}/hooks/sms", payload)
    make_notifier().notify()
    (request,) = await server.wait_requests(1)
    assert (request.method, request.target) == ("POST", "/hooks/sms")
    assert request.headers["content-type"] == "application/json"
    assert request.body == payload.encode()
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert verify_webhook_signature(SECRET, request.body, header, now=clock.now().timestamp())
    assert not verify_webhook_signature(
        "whsec_other", request.body, header, clock.now().timestamp()
    )
    await eventually(lambda: notification.status == "delivered")
    assert notification.attempts == 1
    assert notification.history == [(clock.now(), True, 200, None, None)]


async def test_failed_callback_is_retried_with_backoff_until_it_is_taken(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    server.answers.extend([(500, b"oops"), (503, b"busy")])
    notification = add(store, clock, f"{await server.start()}/cb", {"status": "delivered"})
    settings = {"backoff_initial": 10.0, "backoff_max": 100.0, "max_attempts": 5}
    make_notifier(settings=settings).notify()

    await eventually(lambda: notification.attempts == 1)
    at, delivered, code, error, next_at = notification.history[0]
    assert (delivered, code, error) == (False, 500, "HTTP 500: oops")
    assert next_at is not None
    assert 5.0 <= (next_at - at).total_seconds() <= 10.0  # the first delay: [initial/2, initial]

    await clock.advance(4.9)
    assert len(server.requests) == 1  # not before the backoff
    await clock.advance(5.1)
    await eventually(lambda: notification.attempts == 2)
    at, delivered, code, error, next_at = notification.history[1]
    assert (delivered, code, error) == (False, 503, "HTTP 503: busy")
    assert next_at is not None
    assert 10.0 <= (next_at - at).total_seconds() <= 20.0

    await clock.advance(20.0)
    await eventually(lambda: notification.status == "delivered")
    assert [h[2] for h in notification.history] == [500, 503, 200]
    assert len(server.requests) == 3


async def test_callback_is_given_up_after_max_attempts(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    server.answers.extend([(500, b"down")] * 10)
    notification = add(store, clock, f"{await server.start()}/cb", {"status": "delivered"})
    settings = {"backoff_initial": 1.0, "backoff_max": 2.0, "max_attempts": 3}
    make_notifier(settings=settings).notify()
    for attempts in (1, 2, 3):
        await eventually(lambda n=attempts: notification.attempts == n)  # type: ignore[misc]
        await clock.advance(2.0)
    assert notification.status == "failed"
    assert notification.history[-1][4] is None  # no next attempt: given up
    await clock.advance(100.0)
    assert len(server.requests) == 3


async def test_get_form_sends_the_query_after_the_urls_own(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    query = {"messageId": "77", "status": 1, "text": "გზაშია"}
    notification = add(store, clock, f"{base}/sms/cb?token=abc", {"method": "GET", "query": query})
    make_notifier().notify()
    (request,) = await server.wait_requests(1)
    assert request.method == "GET"
    assert request.body == b""
    path, _, raw_query = request.target.partition("?")
    assert path == "/sms/cb"
    assert raw_query.startswith("token=abc&")
    assert parse_qsl(raw_query) == [
        ("token", "abc"),
        ("messageId", "77"),
        ("status", "1"),
        ("text", "გზაშია"),
    ]
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert verify_webhook_signature(SECRET, raw_query.encode(), header, clock.now().timestamp())
    await eventually(lambda: notification.status == "delivered")


async def test_one_connection_is_kept_alive_for_many_callbacks(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    sent = [add(store, clock, f"{base}/cb", {"n": n}) for n in range(4)]
    make_notifier(concurrency=1).notify()
    await eventually(lambda: all(n.status == "delivered" for n in sent))
    assert {request.connection for request in server.requests} == {1}


async def test_unreachable_receiver_is_an_attempt_without_status(
    make_notifier: NotifierFactory, store: FakeMessageStore, clock: VirtualClock
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notification = add(store, clock, f"http://127.0.0.1:{port}/cb", {"status": "delivered"})
    make_notifier().notify()
    await eventually(lambda: notification.attempts == 1)
    _, delivered, code, error, next_at = notification.history[0]
    assert (delivered, code) == (False, None)
    assert error is not None
    assert "ConnectError" in error
    assert next_at is not None


async def test_account_without_secret_is_given_up(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    notification = store.add_notification(99, f"{base}/cb", "{}", clock.now())
    make_notifier().notify()
    await eventually(lambda: notification.status == "failed")
    assert server.requests == []
    assert notification.last_error == "account 99 has no webhook secret"


def test_post_request_is_signed_over_the_body() -> None:
    notification = Notification(1, 2, 3, "https://example.ge/cb?x=1", '{"a":1}', 0)
    method, url, headers, body = callback_request(notification, SECRET, 1_767_225_600)
    assert (method, url, body) == ("POST", "https://example.ge/cb?x=1", b'{"a":1}')
    assert headers["Content-Type"] == "application/json"
    assert headers[SIGNATURE_HEADER].startswith("t=1767225600,v1=")
    assert verify_webhook_signature(SECRET, body, headers[SIGNATURE_HEADER], 1_767_225_600)


def test_get_request_without_a_query_string_of_its_own() -> None:
    payload = json.dumps({"method": "get", "query": {"a": True, "b": None, "c": [1, 2]}})
    notification = Notification(1, 2, 3, "https://example.ge/cb#frag", payload, 0)
    method, url, _, body = callback_request(notification, SECRET, 0)
    assert method == "GET"
    assert body == b""
    assert urlsplit(url).query == "a=true&b=&c=%5B1%2C2%5D"
    assert urlsplit(url).fragment == ""
