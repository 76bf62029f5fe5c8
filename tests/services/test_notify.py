"""The notifier against real HTTP servers on 127.0.0.1: signatures, retries, the GET form,
timeouts, and outcomes stored in batches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from mesiji.domain.callback_urls import LOOPBACK
from mesiji.domain.keys import SIGNATURE_HEADER, verify_webhook_signature
from mesiji.services.notify import Notifier, callback_request
from mesiji.settings import WebhookSettings
from mesiji.storage.message_ports import Notification, NotificationAttempt
from mesiji.testing import VirtualClock, eventually

from .callback_server import CallbackServer
from .fakes import FakeMessageStore, FakeNotification

SECRET = "whsec_test-secret"
NotifierFactory = Callable[..., Notifier]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
#: Real seconds a test waits for sockets before it fails rather than hangs.
SAFETY = 5.0


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
        # The attempt timeout runs on the virtual clock: by default far beyond any advance()
        # a test makes, so an attempt under way on a real socket never times out by surprise.
        # The receivers of these tests listen on 127.0.0.1, which callbacks may not reach by
        # default.
        defaults = {"timeout": 1000.0, "allowed_networks": LOOPBACK}
        settings = WebhookSettings(**{**defaults, **options.pop("settings", {})})
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


def held_answer(arrived: asyncio.Event, release: asyncio.Event) -> Handler:
    """A handler that reads a request with a 2-byte body, sets ``arrived``, and answers 200 OK
    only once ``release`` is set."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)
        arrived.set()
        await release.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        await writer.drain()

    return answer


def never_answer(arrived: asyncio.Event) -> Handler:
    """A handler that reads a request's head, sets ``arrived``, and never answers."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        arrived.set()
        await reader.read()  # until the client gives up and closes

    return silent


@contextlib.asynccontextmanager
async def raw_server(handle: Handler) -> AsyncIterator[str]:
    """A server on 127.0.0.1 whose connections ``handle`` serves byte by byte; its base URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await handle(reader, writer)
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await listener.wait_closed()


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
    notification = add(store, clock, f"{base}/hooks/sms?account=7", payload)
    notifier = make_notifier()
    notifier.notify()
    (request,) = await server.wait_requests(1)
    assert (request.method, request.target) == ("POST", "/hooks/sms?account=7")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-length"] == str(len(payload.encode()))
    assert request.headers["user-agent"] == "Mesiji"
    assert "cookie" not in request.headers
    assert request.body == payload.encode()
    header = request.headers[SIGNATURE_HEADER.lower()]
    assert verify_webhook_signature(SECRET, request.body, header, now=clock.now().timestamp())
    assert not verify_webhook_signature(
        "whsec_other", request.body, header, clock.now().timestamp()
    )
    await eventually(lambda: notification.status == "delivered")
    assert notification.attempts == 1
    assert notification.history == [(clock.now(), True, 200, None, None)]
    assert (notifier.attempts, notifier.delivered) == (1, 1)
    await eventually(lambda: notifier.recorded == 1)
    assert notifier.record_calls == 1


async def test_any_2xx_is_a_delivery(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    server.answers.extend([(201, b"Created"), (204, b""), (299, b"odd but fine")])
    base = await server.start()
    sent = [add(store, clock, f"{base}/cb", {"n": n}) for n in range(3)]
    make_notifier(concurrency=1).notify()
    await eventually(lambda: all(n.status == "delivered" for n in sent))
    assert [n.last_status_code for n in sent] == [201, 204, 299]
    assert [n.last_error for n in sent] == [None] * 3


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
    assert (delivered, code, error) == (False, 500, "HTTP 500")
    assert next_at is not None
    assert 5.0 <= (next_at - at).total_seconds() <= 10.0  # the first delay: [initial/2, initial]

    await clock.advance(4.9)
    assert len(server.requests) == 1  # not before the backoff
    await clock.advance(5.1)
    await eventually(lambda: notification.attempts == 2)
    at, delivered, code, error, next_at = notification.history[1]
    assert (delivered, code, error) == (False, 503, "HTTP 503")
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
    notifier = make_notifier(settings=settings)
    notifier.notify()
    for attempts in (1, 2, 3):
        await eventually(lambda n=attempts: notification.attempts == n)  # type: ignore[misc]
        await clock.advance(2.0)
    assert notification.status == "failed"
    assert notification.history[-1][4] is None  # no next attempt: given up
    await clock.advance(100.0)
    assert len(server.requests) == 3
    assert (notifier.attempts, notifier.delivered, notifier.recorded) == (3, 0, 3)


async def test_get_form_sends_the_query_after_the_urls_own_exactly_as_signed(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    # Escapes an HTTP client might "normalise" (%2C to ",", %7E to "~") must go as written.
    url = f"{base}/sms/cb?token=a%2Cb%7E"
    query = {"messageId": "77", "status": 1, "text": "გზაშია", "tags": ["a", "b"], "x": "1,2~'"}
    payload = {"method": "GET", "query": query}
    notification = add(store, clock, url, payload)
    make_notifier().notify()
    (request,) = await server.wait_requests(1)
    assert request.method == "GET"
    assert request.body == b""
    expected = urlsplit(
        callback_request(Notification(1, None, 1, url, json.dumps(payload), 0), SECRET, 0)[1]
    )
    assert request.target == f"{expected.path}?{expected.query}"
    path, _, raw_query = request.target.partition("?")
    assert path == "/sms/cb"
    assert raw_query.startswith("token=a%2Cb%7E&")
    assert "%2C" in raw_query.removeprefix("token=a%2Cb%7E&")
    assert parse_qsl(raw_query) == [
        ("token", "a,b~"),
        ("messageId", "77"),
        ("status", "1"),
        ("text", "გზაშია"),
        ("tags", '["a","b"]'),
        ("x", "1,2~'"),
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
    server.answers.append((500, b"an error page is read too"))
    make_notifier(concurrency=1).notify()
    await eventually(lambda: all(n.status == "delivered" for n in sent[1:]))
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
    assert error == "connection refused"
    assert next_at is not None


async def test_an_attempt_without_an_answer_times_out_on_the_clock(
    make_notifier: NotifierFactory, store: FakeMessageStore, clock: VirtualClock
) -> None:
    arrived = asyncio.Event()
    async with raw_server(never_answer(arrived)) as base:
        notification = add(store, clock, f"{base}/cb", {"status": "delivered"})
        settings = {"timeout": 5.0, "backoff_initial": 10.0, "backoff_max": 10.0}
        notifier = make_notifier(settings=settings)
        notifier.notify()
        async with asyncio.timeout(SAFETY):
            await arrived.wait()
        await clock.advance(4.9)
        assert notification.attempts == 0  # still waiting for the answer
        await clock.advance(0.2)
        await eventually(lambda: notification.attempts == 1)
        at, delivered, code, error, next_at = notification.history[0]
        assert (delivered, code, error) == (False, None, "timed out")
        assert next_at is not None
        assert 5.0 <= (next_at - at).total_seconds() <= 10.0
        assert notification.status == "pending"


async def test_redirects_are_not_followed(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    elsewhere = await server.start()
    asked: list[bytes] = []

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            asked.append(await reader.readuntil(b"\r\n\r\n"))
            await reader.readexactly(len(b'{"status":"delivered"}'))
            writer.write(
                f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere}/cb\r\n"
                "Content-Length: 5\r\n\r\nmoved".encode()
            )
            await writer.drain()

    async with raw_server(redirect) as base:
        notification = add(store, clock, f"{base}/cb", '{"status":"delivered"}')
        make_notifier().notify()
        await eventually(lambda: notification.attempts == 1)
    assert notification.history[0][1:4] == (False, 307, "HTTP 307")
    assert len(asked) == 1
    assert server.requests == []


async def test_an_error_page_is_never_stored_short_or_long(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    # What an internal service answers must not reach the client who named the URL.
    server.answers.extend([(500, b"db password: hunter2"), (502, "ბ".encode() * 100_000)])
    base = await server.start()
    short, long = (add(store, clock, f"{base}/cb/{n}", {"n": n}) for n in range(2))
    make_notifier(concurrency=1).notify()
    await eventually(lambda: short.attempts == 1 and long.attempts == 1)
    assert (short.last_status_code, short.last_error) == (500, "HTTP 500")
    assert (long.last_status_code, long.last_error) == (502, "HTTP 502")


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


async def test_many_attempts_are_stored_in_few_transactions(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    server.answers.extend([(500, b"no")] * 30)
    sent = [add(store, clock, f"{base}/cb/{n}", {"n": n}) for n in range(150)]
    notifier = make_notifier()
    notifier.notify()
    await eventually(lambda: len(server.requests) == 150)
    await eventually(lambda: all(n.attempts == 1 for n in sent))
    assert sum(n.status == "delivered" for n in sent) == 120
    sizes = store.sizes["record_notification_attempts"]
    assert sum(sizes) == 150
    # 150 attempts, 64 at a time: a handful of transactions, not one per attempt.
    assert len(sizes) <= 10
    assert (notifier.recorded, notifier.record_calls) == (150, len(sizes))
    # Claims are batches too: up to the free slots, and only once a quarter of them is free.
    claims = store.sizes["claim_notifications"]
    assert claims[0] == 64
    assert min(claims) >= 16
    assert len(claims) <= 12


async def test_outcomes_wait_for_a_batch_or_the_delay(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    arrived = asyncio.Event()
    release = asyncio.Event()
    slow = held_answer(arrived, release)

    async with raw_server(slow) as slow_base:
        held = add(store, clock, f"{slow_base}/cb", "{}")
        quick = [add(store, clock, f"{base}/cb", "{}") for _ in range(3)]
        make_notifier(record_batch=3, record_delay=0.5).notify()
        async with asyncio.timeout(SAFETY):
            await arrived.wait()
        # Three done, one under way: a full batch of 3 is stored at once.
        await eventually(lambda: all(n.status == "delivered" for n in quick))
        assert store.sizes["record_notification_attempts"] == [3]
        release.set()
        await eventually(lambda: held.status == "delivered")
        # The last one finished with nothing left in flight: stored without waiting the delay.
        assert store.sizes["record_notification_attempts"] == [3, 1]


async def test_an_outcome_is_stored_after_the_delay_while_others_are_under_way(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    base = await server.start()
    arrived = asyncio.Event()
    async with raw_server(never_answer(arrived)) as slow_base:
        add(store, clock, f"{slow_base}/cb", "{}")
        quick = add(store, clock, f"{base}/cb", "{}")
        notifier = make_notifier(record_delay=0.5)
        notifier.notify()
        async with asyncio.timeout(SAFETY):
            await arrived.wait()
        await eventually(lambda: notifier.delivered == 1)
        # Answered, but waiting for a fuller batch or the delay while the other is under way.
        assert store.calls["record_notification_attempts"] == 0
        assert quick.status == "pending"
        await clock.advance(0.5)
        await eventually(lambda: quick.status == "delivered")


async def test_a_failed_record_is_tried_again_with_backoff(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store.fail["record_notification_attempts"] = RuntimeError("database is locked")
    notification = add(store, clock, f"{await server.start()}/cb", "{}")
    with caplog.at_level(logging.ERROR, logger="mesiji.services.notify"):
        make_notifier().notify()
        await eventually(lambda: store.calls["record_notification_attempts"] == 1)
        assert notification.status == "pending"
        await clock.advance(0.1)  # the first backoff delay is at most 0.1 s
        await eventually(lambda: notification.status == "delivered")
    assert store.calls["record_notification_attempts"] == 2
    assert "cannot record 1 callback attempts; trying again" in caplog.text
    assert len(server.requests) == 1


async def test_an_attempt_never_stored_is_sent_again_after_its_lease(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tries = 0

    async def database_down(attempts: Sequence[NotificationAttempt], now: datetime) -> None:
        nonlocal tries
        tries += 1
        raise RuntimeError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(store, "record_notification_attempts", database_down)
        notification = add(store, clock, f"{await server.start()}/cb", "{}")
        with caplog.at_level(logging.ERROR, logger="mesiji.services.notify"):
            make_notifier(lease_seconds=60.0).notify()
            await server.wait_requests(1)
            for _ in range(20):
                await clock.advance(0.5)
            await eventually(lambda: "given up" in caplog.text)
        assert tries == 6  # bounded
        assert (notification.status, notification.attempts) == ("pending", 0)
    # The database is back; the row's lease runs out and it is sent (and stored) again.
    await clock.advance(50.0)
    await eventually(lambda: notification.status == "delivered")
    assert len(server.requests) == 2
    assert notification.attempts == 1


async def test_stop_waits_for_attempts_under_way_and_stores_them(
    clock: VirtualClock, store: FakeMessageStore
) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()
    slow = held_answer(arrived, release)

    async def secret_for(account_id: int) -> str | None:
        return SECRET

    async with raw_server(slow) as base, aiohttp.ClientSession() as session:
        notification = add(store, clock, f"{base}/cb", "{}")
        notifier = Notifier(
            store,
            WebhookSettings(timeout=1000.0, allowed_networks=LOOPBACK),
            secret_for=secret_for,
            clock=clock,
            owner="test",
            http=session,
            record_delay=100.0,
        )
        notifier.start()
        notifier.notify()
        async with asyncio.timeout(SAFETY):
            await arrived.wait()
        stopping = asyncio.ensure_future(notifier.stop())
        await asyncio.sleep(0)
        assert not stopping.done()
        release.set()
        async with asyncio.timeout(SAFETY):
            await stopping
        assert notification.status == "delivered"
        assert not session.closed  # the caller's session stays the caller's


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
