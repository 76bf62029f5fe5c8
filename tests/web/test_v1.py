"""The /v1 JSON API: sending, reading, errors with stable codes, and nothing half-written."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.web.conftest import MAX_BODY, Api


def auth(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.key}"}


async def test_send_to_a_list_and_read_back(api: Api) -> None:
    response = await api.client.post(
        "/v1/messages",
        headers=auth(api),
        json={
            "to": ["+995599000001", "599000002", "12"],
            "sender": "Shop",
            "text": "ა" * 100,
            "reference": "batch-1",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert [m["to"] for m in body["messages"]] == ["995599000001", "995599000002"]
    assert all(m["segments"] == 2 and m["credits"] == 2 for m in body["messages"])
    assert all(m["status"] == "queued" for m in body["messages"])
    assert body["rejected"][0]["to"] == "12"
    assert body["rejected"][0]["code"] in {"invalid", "not_a_number"}
    assert body["balance"] == 96
    message_id = body["messages"][0]["id"]
    detail = (await api.client.get(f"/v1/messages/{message_id}", headers=auth(api))).json()
    assert detail["to"] == "995599000001"
    assert detail["text"] == "ა" * 100
    assert detail["events"][0]["status"] == "queued"
    page = (await api.client.get("/v1/messages?limit=1", headers=auth(api))).json()
    assert len(page["messages"]) == 1
    assert page["next_cursor"]
    balance = (await api.client.get("/v1/balance", headers=auth(api))).json()
    assert balance == {"balance": 96, "price_per_segment": 1}


async def test_per_recipient_texts(api: Api) -> None:
    response = await api.client.post(
        "/v1/messages",
        headers=auth(api),
        json={
            "sender": "Shop",
            "messages": [{"to": "599000001", "text": "A"}, {"to": "599000002", "text": "B"}],
        },
    )
    assert response.status_code == 201
    ids = [m["id"] for m in response.json()["messages"]]
    texts = [
        (await api.client.get(f"/v1/messages/{i}", headers=auth(api))).json()["text"] for i in ids
    ]
    assert texts == ["A", "B"]


async def test_idempotency_key_makes_a_retry_safe(api: Api) -> None:
    request = {"to": "599000001", "sender": "Shop", "text": "once"}
    headers = {**auth(api), "Idempotency-Key": "k-1"}
    first = await api.client.post("/v1/messages", headers=headers, json=request)
    again = await api.client.post("/v1/messages", headers=headers, json=request)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["messages"][0]["id"] == first.json()["messages"][0]["id"]
    assert await api.count("messages") == 1
    other = await api.client.post("/v1/messages", headers=headers, json={**request, "text": "2"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"


def j(**fields: object) -> bytes:
    return json.dumps(fields).encode()


SHOP = {"to": "599000001", "sender": "Shop"}
PENDING = {"to": "599000001", "sender": "Pending"}
# (case, key sent, extra headers, body, status, code or "" when several codes are right)
BAD_REQUESTS: list[tuple[str, str | None, dict[str, str], bytes, int, str]] = [
    ("no key", None, {}, j(**SHOP, text="x"), 401, "key_missing"),
    ("wrong key", "mk_wrong", {}, b"{}", 401, "unauthorized"),
    ("malformed JSON", "ok", {}, b'{"to": "599000001", ', 400, "invalid_request"),
    ("invalid UTF-8", "ok", {}, j(**SHOP, text="x")[:-3] + b'\xff\xfe"}', 400, ""),
    ("unknown field", "ok", {}, j(**SHOP, text="x", x=1), 400, "unknown_field"),
    ("wrong type", "ok", {}, j(to=5, sender="Shop", text="x"), 400, "invalid_request"),
    ("empty text", "ok", {}, j(**SHOP, text=""), 400, "no_content"),
    ("bad numbers", "ok", {}, j(to=["1", "abc"], sender="Shop", text="x"), 400, "no_valid_numbers"),
    ("no sender", "ok", {}, j(to="599000001", text="x"), 400, "sender_missing"),
    ("inactive sender", "ok", {}, j(**PENDING, text="x"), 400, "sender_inactive"),
    ("too long", "ok", {}, j(**SHOP, text="x" * 9000), 400, "too_long"),
    ("not JSON", "ok", {"Content-Type": "text/plain"}, b"hello", 400, "invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "headers", "body", "status", "code"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
async def test_bad_input_gets_a_4xx_with_a_code_and_writes_nothing(
    api: Api, key: str | None, headers: dict[str, str], body: bytes, status: int, code: str
) -> None:
    all_headers = {"Content-Type": "application/json", **headers}
    if key is not None:
        all_headers["Authorization"] = f"Bearer {api.key if key == 'ok' else key}"
    response = await api.client.post("/v1/messages", headers=all_headers, content=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    assert await api.count("messages") == 0
    assert await api.balance() == 100


async def test_a_10_mb_body_is_refused_with_413(api: Api) -> None:
    body = b'{"text":"' + b"x" * (10 * MAX_BODY) + b'"}'
    response = await api.client.post(
        "/v1/messages", headers={**auth(api), "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert await api.count("messages") == 0


async def test_unknown_message_and_endpoint_are_404_with_a_code(api: Api) -> None:
    for path in ("/v1/messages/999999", "/v1/messages/abc", "/v1/nothing"):
        response = await api.client.get(path, headers=auth(api))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_openapi_describes_the_api(api: Api) -> None:
    spec: dict[str, Any] = (await api.client.get("/openapi.json")).json()
    assert {"/v1/messages", "/v1/messages/{message_id}", "/v1/balance"} <= set(spec["paths"])
    assert (await api.client.get("/docs")).status_code == 200


async def test_1000_concurrent_sends_against_a_balance_of_100_accept_exactly_100(api: Api) -> None:
    async def one(i: int) -> int:
        response = await api.client.post(
            "/v1/messages",
            headers=auth(api),
            json={"to": f"59900{i:04d}", "sender": "Shop", "text": f"m{i}"},
        )
        return response.status_code

    statuses = await asyncio.gather(*(one(i) for i in range(1000)))
    assert statuses.count(201) == 100
    assert statuses.count(402) == 900
    assert await api.balance() == 0
    assert await api.count("messages") == 100
    ledger = await api.count("balance_ledger")
    assert ledger == 101  # the opening credit and one reservation per accepted message


async def test_stop_list_api_manages_numbers_and_sending_respects_it(api: Api) -> None:
    send = {"to": ["599000001", "599000002"], "sender": "Shop", "text": "sale"}
    # The account's (empty) stop list is read, and kept, by this first send.
    assert (await api.client.post("/v1/messages", headers=auth(api), json=send)).status_code == 201
    added = await api.client.post(
        "/v1/stop-list",
        headers=auth(api),
        json={"numbers": ["+995599000001", "599000001", "12", "599000003"]},
    )
    assert added.status_code == 200, added.text
    body = added.json()
    assert (body["added"], body["already_listed"]) == (2, 0)
    assert [r["to"] for r in body["rejected"]] == ["12"]
    page = (await api.client.get("/v1/stop-list?limit=1", headers=auth(api))).json()
    assert page == {"numbers": ["995599000001"], "next_after": "995599000001"}
    page = (
        await api.client.get("/v1/stop-list?limit=1&after=995599000001", headers=auth(api))
    ).json()
    assert page == {"numbers": ["995599000003"], "next_after": None}

    # Seen at once by the next send, though the list read before is not yet stale.
    sent = await api.client.post("/v1/messages", headers=auth(api), json=send)
    assert sent.status_code == 201
    assert [m["to"] for m in sent.json()["messages"]] == ["995599000002"]
    assert sent.json()["rejected"][0]["code"] == "stop_listed"
    urgent = await api.client.post("/v1/messages", headers=auth(api), json=send | {"urgent": True})
    assert len(urgent.json()["messages"]) == 2

    removed = await api.client.delete("/v1/stop-list/+995599000001", headers=auth(api))
    assert removed.status_code == 204
    again = await api.client.delete("/v1/stop-list/995599000001", headers=auth(api))
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"
    bad = await api.client.delete("/v1/stop-list/12", headers=auth(api))
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_request")
    sent = await api.client.post("/v1/messages", headers=auth(api), json=send)
    assert len(sent.json()["messages"]) == 2
    empty = await api.client.post("/v1/stop-list", headers=auth(api), json={"numbers": []})
    assert empty.status_code == 400


async def test_balance_is_read_fresh_though_the_key_is_cached(api: Api) -> None:
    assert (await api.client.get("/v1/balance", headers=auth(api))).json()["balance"] == 100
    await api.store.add_credits(api.account_id, 50, "top-up")
    assert (await api.client.get("/v1/balance", headers=auth(api))).json()["balance"] == 150
    legacy = await api.client.get(f"/api/getBalance?key={api.key}")
    assert legacy.text == "150"
