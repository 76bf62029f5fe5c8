"""Cancelling messages through /v1: by id and by reference; what shows afterwards."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from mesiji.domain.keys import generate_api_key
from mesiji.settings import ChannelSettings
from mesiji.storage.records import NewAccount
from tests.web.conftest import Api

CHANNEL = ChannelSettings().name


def auth(api: Api, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key or api.key}"}


async def send(api: Api, **fields: Any) -> list[str]:
    body = {"to": "599000001", "sender": "Shop", "text": "x", **fields}
    response = await api.client.post("/v1/messages", headers=auth(api), json=body)
    assert response.status_code == 201, response.text
    return [m["id"] for m in response.json()["messages"]]


async def cancel(api: Api, message_id: str, key: str | None = None) -> Any:
    return await api.client.post(f"/v1/messages/{message_id}/cancel", headers=auth(api, key))


async def test_a_scheduled_message_is_cancelled_and_its_credits_come_back(api: Api) -> None:
    later = (api.clock.now() + timedelta(hours=2)).isoformat()
    (message_id,) = await send(
        api, text="ა" * 100, send_at=later, callback_url="https://shop.ge/sms"
    )
    assert await api.balance() == 98

    response = await cancel(api, message_id)

    assert response.status_code == 200, response.text
    detail = response.json()
    assert (detail["id"], detail["status"], detail["credits"]) == (message_id, "cancelled", 2)
    assert [e["status"] for e in detail["events"]] == ["scheduled", "cancelled"]
    assert len(detail["callbacks"]) == 1
    assert await api.balance() == 100
    async with api.store.engine.connect() as conn:
        payload = (await conn.execute(sa.text("SELECT payload FROM notifications"))).scalar_one()
        ledger = (
            await conn.execute(sa.text("SELECT delta, reason FROM balance_ledger ORDER BY id"))
        ).all()
    assert json.loads(payload)["status"] == "cancelled"
    assert tuple(ledger[-1]) == (2, "refund")
    # Nothing is left for a dispatcher, even when its time comes.
    at = api.clock.now() + timedelta(hours=3)
    assert await api.messages.claim_parts(CHANNEL, 10, "gw", at, at + timedelta(seconds=30)) == []


async def test_a_queued_message_is_cancelled_once(api: Api) -> None:
    (message_id,) = await send(api)
    assert (await cancel(api, message_id)).json()["status"] == "cancelled"

    again = await cancel(api, message_id)

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancellable"
    assert "cancelled" in again.json()["error"]["message"]
    assert await api.balance() == 100
    shown = (await api.client.get(f"/v1/messages/{message_id}", headers=auth(api))).json()
    assert shown["status"] == "cancelled"
    listed = await api.client.get("/v1/messages?status=cancelled", headers=auth(api))
    assert [m["id"] for m in listed.json()["messages"]] == [message_id]


async def test_a_message_a_dispatcher_claimed_is_not_cancellable(api: Api) -> None:
    (message_id,) = await send(api, text="x" * 200)  # two parts
    now = api.clock.now()
    claimed = await api.messages.claim_parts(CHANNEL, 1, "gw", now, now + timedelta(seconds=30))
    assert len(claimed) == 1

    response = await cancel(api, message_id)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "not_cancellable"
    assert "handed to the SMSC" in error["message"]
    assert await api.balance() == 98


@pytest.mark.parametrize("message_id", ["999999", "abc", "١٢", "99999999999999999999", "-1"])
async def test_unknown_ids_are_404(api: Api, message_id: str) -> None:
    response = await cancel(api, message_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_another_accounts_message_is_404_and_stays_queued(api: Api) -> None:
    (message_id,) = await send(api)
    other = await api.store.create_account(NewAccount(name="Other LLC"))
    key = generate_api_key()
    await api.store.create_api_key(other.id, key.key_hash, key.prefix, "test")

    response = await cancel(api, message_id, key.secret)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    shown = (await api.client.get(f"/v1/messages/{message_id}", headers=auth(api))).json()
    assert shown["status"] == "queued"


async def test_cancel_needs_a_key(api: Api) -> None:
    (message_id,) = await send(api)
    response = await api.client.post(f"/v1/messages/{message_id}/cancel")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "key_missing"


async def test_cancel_by_reference(api: Api) -> None:
    first, second, third = await send(
        api, to=["599000001", "599000002", "599000003"], reference="promo-7"
    )
    await send(api, to="599000004", reference="other")
    now = api.clock.now()
    claimed = await api.messages.claim_parts(CHANNEL, 1, "gw", now, now + timedelta(seconds=30))
    assert [str(p.message_id) for p in claimed] == [first]

    response = await api.client.post(
        "/v1/messages/cancel", headers=auth(api), json={"reference": "promo-7"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["cancelled"]) == sorted([second, third])
    assert body["refunded"] == 2
    assert body["not_cancellable"] == [{"id": first, "status": "queued"}]
    assert await api.balance() == 98  # 4 sent, 2 given back


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"reference": "nothing-sent"}, 404, "not_found"),
        ({"reference": ""}, 400, "invalid_request"),
        ({}, 400, "invalid_request"),
        ({"reference": "x", "id": 1}, 400, "unknown_field"),
    ],
)
async def test_cancel_by_reference_refusals(
    api: Api, body: dict[str, Any], status: int, code: str
) -> None:
    response = await api.client.post("/v1/messages/cancel", headers=auth(api), json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_the_smsoffice_status_shows_cancelled_in_georgian(api: Api) -> None:
    (message_id,) = await send(api, reference="r-9")
    await cancel(api, message_id)
    response = await api.client.get(
        "/api/v2/getMessageStatus", params={"key": api.key, "reference": "r-9"}
    )
    output = response.json()["Output"]
    assert [(o["Status"], o["StatusText"]) for o in output] == [("cancelled", "გაუქმებულია")]
