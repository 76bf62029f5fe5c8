"""Callback URLs through the /v1 API: refused on sight when unusable or aimed at an address the
gateway does not call, and what a receiver answers never shown back to the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from mesiji.services.notify import Notifier
from mesiji.settings import WebhookSettings
from mesiji.storage.message_ports import SubmitResult
from mesiji.testing import eventually
from tests.services.callback_server import CallbackServer
from tests.services.fake_resolver import FakeResolver
from tests.web.conftest import Api

SECRET_BODY = b"internal-service-secret: db=postgres://admin:hunter2@10.0.0.5"


def send(api: Api, callback_url: Any) -> Any:
    return api.client.post(
        "/v1/messages",
        headers={"Authorization": f"Bearer {api.key}"},
        json={"to": "599123456", "sender": "Shop", "text": "hi", "callback_url": callback_url},
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.ge/cb\r\nX-Injected: 1",
        "https://shop.ge/c\x00b",
        "https://shop.ge/a b",
        "ftp://shop.ge/cb",
        "https:///cb",
        "https://user:pw@shop.ge/cb",
        "https://shop.ge:0/cb",
        "https://shop.ge:99999/cb",
        "https://shop.ge/" + "x" * 2048,
        "http://127.0.0.1:8000/cb",
        "http://127.1/cb",
        "http://[::1]/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://[64:ff9b::7f00:1]/cb",
        "http://10.0.0.1/cb",
        "http://[fc00::1]/cb",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/cb",
    ],
)
async def test_an_unusable_or_refused_callback_url_is_a_400_and_writes_nothing(
    api: Api, url: str
) -> None:
    response = await send(api, url)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    # A NUL is refused where the JSON body is read, whatever field holds it.
    assert error["code"] == ("invalid_request" if "\x00" in url else "invalid_callback_url")
    assert error["message"]
    assert await api.count("messages") == 0
    assert await api.balance() == 100


async def test_a_callback_url_that_is_not_a_string_is_an_invalid_request(api: Api) -> None:
    response = await send(api, ["https://shop.ge/cb"])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.fixture
async def server() -> AsyncIterator[CallbackServer]:
    callbacks = CallbackServer()
    yield callbacks
    await callbacks.close()


async def in_transit(api: Api, callback_url: str) -> str:
    """Send one message with ``callback_url`` and submit it: its in_transit callback is due."""
    response = await send(api, callback_url)
    assert response.status_code == 201, response.text
    message_id: str = response.json()["messages"][0]["id"]
    now = api.clock.now()
    [part] = await api.messages.claim_parts("default", 10, "gw", now, now + timedelta(minutes=1))
    await api.messages.record_submissions([SubmitResult(part.part_id, "smsc-1")], now)
    return message_id


async def run_callbacks(api: Api, settings: WebhookSettings, **options: Any) -> Notifier:
    async def secret_for(account_id: int) -> str | None:
        return "whsec_test"

    notifier = Notifier(
        api.messages, settings, secret_for=secret_for, clock=api.clock, owner="t", **options
    )
    notifier.start()
    notifier.notify()
    return notifier


async def callbacks_shown(api: Api, message_id: str, notifier: Notifier) -> tuple[str, Any]:
    """The message as the client reads it (text, callbacks) once an attempt is stored."""
    await eventually(lambda: notifier.recorded >= 1)
    response = await api.client.get(
        f"/v1/messages/{message_id}", headers={"Authorization": f"Bearer {api.key}"}
    )
    assert response.status_code == 200
    return response.text, response.json()["callbacks"]


async def test_a_receivers_answer_is_never_shown_to_the_client(
    api: Api, server: CallbackServer
) -> None:
    server.answers.extend([(500, SECRET_BODY)] * 3)
    port = (await server.start()).rpartition(":")[2]
    # A name, so accepted; it resolves to 127.0.0.1, which this gateway allows.
    message_id = await in_transit(api, f"http://hooks.test:{port}/cb")
    resolver = FakeResolver({"hooks.test": ["127.0.0.1"]})
    settings = WebhookSettings(timeout=1000.0, max_attempts=1, allowed_networks=("127.0.0.1",))
    notifier = await run_callbacks(api, settings, resolver=resolver)
    try:
        text, shown = await callbacks_shown(api, message_id, notifier)
    finally:
        await notifier.stop()
    assert shown == [
        {
            "attempts": 1,
            "status": "failed",
            "last_status_code": 500,
            "last_error": "HTTP 500",
            "message_status": "in_transit",
            "url": f"http://hooks.test:{port}/cb",
        }
    ]
    assert "hunter2" not in text
    assert "internal-service-secret" not in text


async def test_a_name_resolving_to_loopback_is_refused_when_sent(
    api: Api, server: CallbackServer
) -> None:
    port = (await server.start()).rpartition(":")[2]
    message_id = await in_transit(api, f"http://localhost:{port}/cb")
    notifier = await run_callbacks(api, WebhookSettings(timeout=1000.0))
    try:
        _, shown = await callbacks_shown(api, message_id, notifier)
    finally:
        await notifier.stop()
    assert shown == [
        {
            "attempts": 1,
            "status": "failed",
            "last_status_code": None,
            "last_error": "destination not allowed: loopback address",
            "message_status": "in_transit",
            "url": f"http://localhost:{port}/cb",
        }
    ]
    assert server.requests == []
