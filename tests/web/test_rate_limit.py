"""The per-account send rate on both APIs: 429 with Retry-After on /v1, -100 on /api/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mesiji.domain.keys import generate_api_key
from mesiji.services.accept import AcceptService
from mesiji.services.lookups import AccountLookups
from mesiji.services.rate_limits import SendRateLimiter
from mesiji.settings import ChannelSettings
from mesiji.storage.records import NewAccount, SenderStatus
from mesiji.web.app import create_app
from mesiji.web.context import WebContext
from tests.web.conftest import Api

RATE = 3
SEND = {"to": "599000001", "sender": "Shop", "text": "x"}


@pytest.fixture
async def limited(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway of ``api`` with a default of :data:`RATE` send requests a second."""
    lookups = AccountLookups(api.store, api.clock, ttl=2.0)
    accept = AcceptService(lookups, api.messages, ChannelSettings(), api.clock)
    context = WebContext(
        api.store,
        lookups,
        api.messages,
        accept,
        api.clock,
        send_limits=SendRateLimiter(api.clock, RATE),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://mesiji.test") as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def v1_send(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/v1/messages", headers=auth(key), json=SEND)


async def second_account(api: Api, **options: Any) -> tuple[int, str]:
    account = await api.store.create_account(NewAccount(name="Taxi LLC", **options))
    await api.store.add_credits(account.id, 100, "test")
    key = generate_api_key()
    await api.store.create_api_key(account.id, key.key_hash, key.prefix, "test")
    await api.store.set_sender(account.id, "Shop", SenderStatus.ACTIVE)
    return account.id, key.secret


async def test_over_the_rate_is_429_with_retry_after_until_the_clock_moves(
    api: Api, limited: httpx.AsyncClient
) -> None:
    for _ in range(RATE):
        assert (await v1_send(limited, api.key)).status_code == 201

    over = await v1_send(limited, api.key)

    assert over.status_code == 429
    assert over.headers["Retry-After"] == "1"
    assert over.json()["error"]["code"] == "too_many_requests"
    assert await api.count("messages") == RATE  # the refused request wrote nothing
    await api.clock.advance(int(over.headers["Retry-After"]))
    assert (await v1_send(limited, api.key)).status_code == 201


async def test_the_smsoffice_api_answers_over_the_rate_in_its_envelope(
    api: Api, limited: httpx.AsyncClient
) -> None:
    params = {"key": api.key, "destination": "599000001", "sender": "Shop", "content": "x"}
    for _ in range(RATE):
        assert (await limited.get("/api/v2/send", params=params)).json()["ErrorCode"] == 0

    over = await limited.get("/api/v2/send", params=params)
    legacy = await limited.get("/api/send.aspx", params=params)

    assert over.status_code == 200
    body = over.json()
    assert (body["Success"], body["ErrorCode"]) == (False, -100)
    assert "send request" in body["Message"]
    assert legacy.text == "-100"
    assert await api.count("messages") == RATE
    await api.clock.advance(1)
    assert (await limited.get("/api/v2/send", params=params)).json()["ErrorCode"] == 0


async def test_both_apis_count_against_one_rate(api: Api, limited: httpx.AsyncClient) -> None:
    params = {"key": api.key, "destination": "599000001", "sender": "Shop", "content": "x"}
    assert (await limited.get("/api/v2/send", params=params)).json()["ErrorCode"] == 0
    for _ in range(RATE - 1):
        assert (await v1_send(limited, api.key)).status_code == 201
    assert (await v1_send(limited, api.key)).status_code == 429


async def test_one_account_over_its_rate_does_not_slow_another(
    api: Api, limited: httpx.AsyncClient
) -> None:
    _, other_key = await second_account(api)
    for _ in range(RATE):
        await v1_send(limited, api.key)
    assert (await v1_send(limited, api.key)).status_code == 429
    for _ in range(RATE):
        assert (await v1_send(limited, other_key)).status_code == 201
    assert (await v1_send(limited, other_key)).status_code == 429


async def test_an_accounts_own_rate_wins_over_the_default(
    api: Api, limited: httpx.AsyncClient
) -> None:
    _, generous = await second_account(api, send_rate=RATE + 2)
    for _ in range(RATE + 2):
        assert (await v1_send(limited, generous)).status_code == 201
    assert (await v1_send(limited, generous)).status_code == 429
    # Unlimited (0), set while the gateway runs: seen once its lookups are refreshed.
    await api.store.set_send_rate(api.account_id, 0)
    await api.clock.advance(3)
    for _ in range(RATE * 3):
        assert (await v1_send(limited, api.key)).status_code == 201


async def test_reads_are_not_limited(api: Api, limited: httpx.AsyncClient) -> None:
    for _ in range(RATE * 3):
        assert (await limited.get("/v1/balance", headers=auth(api.key))).status_code == 200
