"""The send endpoints' fast path answers as FastAPI's routes do, and stays documented."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mesiji.web.app import create_app
from tests.web.conftest import Api


async def test_openapi_describes_the_send_endpoint_and_its_schemas(api: Api) -> None:
    spec: dict[str, Any] = (await api.client.get("/openapi.json")).json()
    send = spec["paths"]["/v1/messages"]["post"]
    body = send["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SendMessages"}
    answer = send["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/SendAnswer"}
    schemas = spec["components"]["schemas"]
    assert {"to", "text", "messages", "sender", "callback_url"} <= set(
        schemas["SendMessages"]["properties"]
    )
    headers = {p["name"].lower() for p in send["parameters"] if p["in"] == "header"}
    assert {"authorization", "idempotency-key"} <= headers
    assert set(schemas["SendAnswer"]["properties"]) == {"messages", "rejected", "balance"}


REQUESTS: list[tuple[str, dict[str, str], bytes]] = [
    ("", {}, b'{"to": "599000001", "sender": "Shop", "text": "x"}'),
    ("", {}, b'{"to": "599000001", "sender": "Shop", "text": ""}'),
    ("", {}, b'{"to": ["1", "abc"], "sender": "Shop", "text": "x"}'),
    ("", {}, b'{"to": "599000001", "text": "x"}'),
    ("", {}, b'{"to": "599000001", "sender": "Pending", "text": "x"}'),
    ("", {}, b'{"to": "599000001", "sender": "Shop", "text": "x", "x": 1}'),
    ("", {}, b'{"to": 5, "sender": "Shop", "text": "x"}'),
    ("", {}, b'{"to": "599000001", "sender": "Shop", "text": "\\u0000"}'),
    ("", {}, b'{"to": "599000001", "sender": "Shop", "text": "\\ud800"}'),
    ("", {}, b'{"to": "599000001", "sender": "Shop", "text": "x", "send_at": "2026-01-01"}'),
    ("", {}, b'{"to": "599000001", "sender": "Shop", "text": "x", "validity": NaN}'),
    ("", {}, b'{"to": "599000001", ,'),
    ("", {}, b"\xef\xbb\xbf{}"),
    ("", {}, b""),
    ("", {"Content-Type": "text/plain"}, b'{"to": "599000001"}'),
    ("", {"Content-Type": "application/json; charset=utf-8"}, b"{}"),
    ("", {"Idempotency-Key": "k" * 201}, b"{}"),
    ("", {"Idempotency-Key": "a\x01b"}, b"{}"),
    ("?x=1", {}, b"{}"),
    ("?x=%00", {}, b"{}"),
    ("", {"Authorization": "Basic abc"}, b"{}"),
    ("", {"Authorization": "Bearer mk_wrong"}, b"{}"),
    ("", {"Authorization": ""}, b"{}"),
]


@pytest.mark.parametrize(("query", "headers", "body"), REQUESTS)
async def test_refusals_are_the_routes_own(
    api: Api, query: str, headers: dict[str, str], body: bytes
) -> None:
    routes = create_app(api.app.state.context, fast_send=False)
    transport = httpx.ASGITransport(app=routes)
    async with httpx.AsyncClient(transport=transport, base_url="http://mesiji.test") as slow:
        sent = {
            "Authorization": f"Bearer {api.key}",
            "Content-Type": "application/json",
            **headers,
        }
        before = await api.balance()
        fast_answer = await api.client.post(f"/v1/messages{query}", headers=sent, content=body)
        after_fast = await api.balance()
        route_answer = await slow.post(f"/v1/messages{query}", headers=sent, content=body)
    assert fast_answer.status_code == route_answer.status_code
    assert fast_answer.headers.get("content-type") == route_answer.headers.get("content-type")
    fast_json, route_json = fast_answer.json(), route_answer.json()
    if fast_answer.status_code < 300:
        assert after_fast == before - 1
        assert set(fast_json) == set(route_json)
        assert fast_json["messages"][0]["id"] != route_json["messages"][0]["id"]
        assert json.dumps(fast_json["messages"][0]["to"]) == json.dumps(
            route_json["messages"][0]["to"]
        )
    else:
        assert after_fast == before
        assert fast_json == route_json


async def test_smsoffice_sends_answer_in_any_path_case(api: Api) -> None:
    params = {"key": api.key, "destination": "599000001", "sender": "Shop", "content": "hi"}
    for path in ["/api/v2/send", "/API/V2/Send/", "/api/send.aspx", "/api/SEND.ASPX"]:
        got = await api.client.get(path, params=params)
        assert got.status_code == 200, path
        assert got.text in {'{"Success":true,"Message":"Sent","Output":null,"ErrorCode":0}', "01"}
        form = await api.client.post(path, data=params)
        assert form.text == got.text
    assert await api.count("messages") == 8
