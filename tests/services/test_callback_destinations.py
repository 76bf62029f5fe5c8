"""Which destinations the notifier calls: loopback, private, link-local and the IPv6 forms of
them are refused, written in the URL or behind a name, unless the administrator allows them;
a refusal is stored as a short reason and given up at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from mesiji.domain.callback_urls import LOOPBACK, DestinationPolicy
from mesiji.services.callback_guard import (
    DestinationRefusedError,
    GuardedResolver,
    failure_reason,
)
from mesiji.services.notify import Notifier
from mesiji.settings import WebhookSettings
from mesiji.testing import VirtualClock, eventually

from .callback_server import CallbackServer
from .fake_resolver import FakeResolver
from .fakes import FakeMessageStore, FakeNotification

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
        return "whsec_test"

    def factory(allowed: tuple[str, ...] = (), **options: Any) -> Notifier:
        settings = WebhookSettings(timeout=1000.0, max_attempts=5, allowed_networks=allowed)
        notifier = Notifier(
            store, settings, secret_for=secret_for, clock=clock, owner="t", **options
        )
        made.append(notifier)
        notifier.start()
        return notifier

    yield factory
    for notifier in made:
        await notifier.stop()


def add(store: FakeMessageStore, clock: VirtualClock, url: str) -> FakeNotification:
    return store.add_notification(1, url, '{"status":"delivered"}', clock.now())


async def refused(notification: FakeNotification) -> str | None:
    await eventually(lambda: notification.attempts == 1)
    # Given up at once: no later attempt could go anywhere else.
    assert notification.status == "failed"
    assert notification.last_status_code is None
    return notification.last_error


LITERALS = [
    ("127.0.0.1", "loopback"),
    ("127.0.0.2", "loopback"),
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[::127.0.0.1]", "loopback"),
    ("[64:ff9b::7f00:1]", "loopback"),
    ("[2002:7f00:1::]", "loopback"),
    ("10.0.0.1", "private"),
    ("192.168.0.1", "private"),
    ("[fc00::1]", "private"),
    ("169.254.169.254", "link-local"),
    ("[fe80::1]", "link-local"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
    ("100.64.0.1", "shared"),
]


@pytest.mark.parametrize(("host", "kind"), LITERALS)
async def test_addresses_in_the_url_are_not_called(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
    host: str,
    kind: str,
) -> None:
    # Stored before the accept-time check existed, or set by an administrator.
    port = (await server.start()).rpartition(":")[2]
    notification = add(store, clock, f"http://{host}:{port}/cb")
    resolver = FakeResolver({})
    make_notifier(resolver=resolver).notify()
    assert await refused(notification) == f"destination not allowed: {kind} address"
    assert server.requests == []
    assert resolver.asked == []


NAMES = {
    "loopback.test": ["127.0.0.1"],
    "v6-loopback.test": ["::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "nat64.test": ["64:ff9b::7f00:1"],
    "internal.test": ["10.1.2.3"],
    "ula.test": ["fd12:3456::1"],
    "metadata.test": ["169.254.169.254"],
    "link-local.test": ["fe80::1%lo"],
    "all-refused.test": ["10.0.0.1", "192.168.0.1", "::1"],
}


@pytest.mark.parametrize("name", sorted(NAMES))
async def test_names_resolving_to_refused_addresses_are_not_called(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
    name: str,
) -> None:
    port = (await server.start()).rpartition(":")[2]
    notification = add(store, clock, f"http://{name}:{port}/cb")
    resolver = FakeResolver(NAMES)
    make_notifier(resolver=resolver).notify()
    error = await refused(notification)
    assert error is not None
    assert error.startswith("destination not allowed: ")
    assert error.endswith(" address")
    assert server.requests == []
    assert resolver.asked == [name]


async def test_localhost_is_refused_through_the_systems_resolver(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    port = (await server.start()).rpartition(":")[2]
    notification = add(store, clock, f"http://localhost:{port}/cb")
    make_notifier().notify()
    assert await refused(notification) == "destination not allowed: loopback address"
    assert server.requests == []


async def test_allowed_networks_are_called_at_the_address_checked(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    port = (await server.start()).rpartition(":")[2]
    # hooks.test exists only in this resolver: the request can only have gone to the address
    # it answered and the guard checked; nothing resolved the name a second time.
    resolver = FakeResolver({"hooks.test": ["127.0.0.1"], "mixed.test": ["10.9.9.9", "127.0.0.1"]})
    by_name = add(store, clock, f"http://hooks.test:{port}/by-name")
    mixed = add(store, clock, f"http://mixed.test:{port}/mixed")
    literal = add(store, clock, f"http://127.0.0.1:{port}/literal")
    make_notifier(allowed=("127.0.0.1/32",), resolver=resolver, concurrency=1).notify()
    await eventually(lambda: all(n.status == "delivered" for n in (by_name, mixed, literal)))
    assert sorted(r.target for r in server.requests) == ["/by-name", "/literal", "/mixed"]
    assert sorted(resolver.asked) == ["hooks.test", "mixed.test"]


async def test_an_allowed_network_opens_nothing_else(
    make_notifier: NotifierFactory,
    server: CallbackServer,
    store: FakeMessageStore,
    clock: VirtualClock,
) -> None:
    port = (await server.start()).rpartition(":")[2]
    resolver = FakeResolver({"other.test": ["10.0.0.7"]})
    literal = add(store, clock, f"http://127.0.0.2:{port}/cb")
    by_name = add(store, clock, f"http://other.test:{port}/cb")
    make_notifier(allowed=("127.0.0.1/32", "10.0.0.8/32"), resolver=resolver).notify()
    assert await refused(literal) == "destination not allowed: loopback address"
    assert await refused(by_name) == "destination not allowed: private address"
    assert server.requests == []


async def test_an_unusable_stored_url_is_given_up(
    make_notifier: NotifierFactory, store: FakeMessageStore, clock: VirtualClock
) -> None:
    notification = add(store, clock, "https://user:pw@shop.ge/cb\r\nX: 1")
    make_notifier().notify()
    assert await refused(notification) == (
        "the callback URL contains a space, a control character or a backslash"
    )


async def test_a_name_that_does_not_resolve_is_tried_again(
    make_notifier: NotifierFactory, store: FakeMessageStore, clock: VirtualClock
) -> None:
    notification = add(store, clock, "http://nowhere.test/cb")
    make_notifier(resolver=FakeResolver({})).notify()
    await eventually(lambda: notification.attempts == 1)
    assert (notification.status, notification.last_error) == ("pending", "name not resolved")


async def test_the_resolver_keeps_only_allowed_answers() -> None:
    fake = FakeResolver({"mixed.test": ["8.8.8.8", "10.0.0.1", "2606:4700::1111", "::1"]})
    guarded = GuardedResolver(DestinationPolicy(), fake)
    kept = await guarded.resolve("mixed.test", 443)
    assert [answer["host"] for answer in kept] == ["8.8.8.8", "2606:4700::1111"]
    loopback = GuardedResolver(DestinationPolicy.from_cidrs(LOOPBACK), fake)
    assert len(await loopback.resolve("mixed.test", 443)) == 3
    fake.answers["odd.test"] = ["not-an-address"]
    with pytest.raises(DestinationRefusedError, match="unrecognised address"):
        await guarded.resolve("odd.test")
    fake.answers["empty.test"] = []
    with pytest.raises(DestinationRefusedError, match="no address"):
        await guarded.resolve("empty.test")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TimeoutError(), "timed out"),
        (aiohttp.ServerDisconnectedError("secret page"), "connection closed"),
        (aiohttp.ClientPayloadError("secret page"), "invalid HTTP response"),
        (aiohttp.InvalidURL("http://secret"), "invalid URL"),
        (aiohttp.ClientError("secret page"), "request failed"),
        (RuntimeError("secret page"), "request failed"),
    ],
)
def test_failure_reasons_are_fixed_texts(error: BaseException, reason: str) -> None:
    assert failure_reason(error) == reason
