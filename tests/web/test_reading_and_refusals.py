"""Reading messages back through /v1 and the refusals of both APIs that are not a field's own."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from mesiji.storage.message_ports import MessageQuery
from tests.storage.message_fixtures import in_transit
from tests.web.conftest import Api


def auth(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.key}"}


async def send(api: Api, to: str = "599123456", **fields: Any) -> str:
    body = {"to": to, "text": "hello", "sender": "Shop", **fields}
    response = await api.client.post("/v1/messages", json=body, headers=auth(api))
    assert response.status_code == 201, response.text
    message_id: str = response.json()["messages"][0]["id"]
    return message_id


async def test_a_listing_shows_the_history_and_callbacks_a_look_up_shows(api: Api) -> None:
    message_id, _ = await in_transit(
        api.messages, api.account_id, api.clock.now(), ["smsc-1"], callback_url="https://c/1"
    )
    listed = (await api.client.get("/v1/messages", headers=auth(api))).json()["messages"]
    one = (await api.client.get(f"/v1/messages/{message_id}", headers=auth(api))).json()
    assert listed == [one]
    assert [e["status"] for e in one["events"]][-1] == "in_transit"
    assert one["callbacks"] == [
        {
            "attempts": 0,
            "status": "pending",
            "last_status_code": None,
            "last_error": None,
            "message_status": "in_transit",
            "url": "https://c/1",
        }
    ]


@pytest.mark.parametrize(
    "written", ["599123456", "+995 599 12 34 56", "995599123456", "+995599123456", "00995599123456"]
)
async def test_the_to_filter_reads_numbers_as_a_send_does(api: Api, written: str) -> None:
    message_id = await send(api)
    await send(api, to="599123457")
    response = await api.client.get("/v1/messages", params={"to": written}, headers=auth(api))
    assert [m["id"] for m in response.json()["messages"]] == [message_id]


async def test_a_to_filter_that_is_no_number_matches_nothing(api: Api) -> None:
    await send(api)
    for written in ("hello", "+", "599"):
        response = await api.client.get("/v1/messages", params={"to": written}, headers=auth(api))
        assert response.status_code == 200
        assert response.json()["messages"] == []


@pytest.mark.parametrize("name", ["since", "until"])
async def test_filter_times_need_an_offset_and_a_place_in_the_calendar(api: Api, name: str) -> None:
    await send(api)
    for value in ("2026-01-01T00:00:00", "2026-01-01", "9999-12-31T23:59:59-05:00"):
        response = await api.client.get("/v1/messages", params={name: value}, headers=auth(api))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"
        assert name in response.json()["error"]["message"]
    # The edges themselves, in UTC, are fine: everything is after year 1 and before 9999.
    everything = {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    response = await api.client.get("/v1/messages", params=everything, headers=auth(api))
    assert len(response.json()["messages"]) == 1


async def test_a_message_id_is_read_in_ascii_digits_only(api: Api) -> None:
    message_id = await send(api)
    assert message_id == "1"
    ok = await api.client.get("/v1/messages/1", headers=auth(api))
    assert ok.status_code == 200
    # Arabic-Indic one, Devanagari one, fullwidth one, superscript one: none is message 1.
    for written in ("\u0661", "\u0967", "\uff11", "\u00b9", "+1", " 1", "1_0", "0", "9" * 30):
        response = await api.client.get(f"/v1/messages/{written}", headers=auth(api))
        assert response.status_code == 404, written
        assert response.json()["error"]["code"] == "not_found"


async def test_a_forged_cursor_is_a_400(api: Api) -> None:
    await send(api)
    for cursor in ("zzz", base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|" + b"9" * 30)):
        response = await api.client.get(
            "/v1/messages", params={"cursor": cursor}, headers=auth(api)
        )
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "invalid_request",
            "message": "cursor is not a next_cursor this listing returned",
        }


async def test_nul_and_lone_surrogates_are_refused_without_being_echoed(api: Api) -> None:
    body = b'{"to": ["599123456", "599\\ud800"], "text": "hi", "sender": "Shop"}'
    response = await api.client.post(
        "/v1/messages", content=body, headers={**auth(api), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": "to.1 contains an unpaired surrogate (U+D800..U+DFFF), which is not a character",
    }
    response = await api.client.get(
        "/v1/messages", params={"reference": "a\x00"}, headers=auth(api)
    )
    assert response.json()["error"]["message"] == "reference contains a NUL character (U+0000)"
    response = await api.client.get(
        "/api/v2/getMessageStatus", params={"key": api.key, "reference": "a\x00"}
    )
    assert response.json() == {
        "Success": False,
        "Message": "reference contains a NUL character (U+0000)",
        "Output": None,
        "ErrorCode": -100,
    }
    assert await api.count("messages") == 0


async def test_no_message_with_a_reference_is_a_non_zero_code(api: Api) -> None:
    response = await api.client.get(
        "/api/v2/getMessageStatus", params={"key": api.key, "reference": "nothing"}
    )
    assert response.json() == {
        "Success": False,
        "Message": "no message with this reference",
        "Output": [],
        "ErrorCode": 404,
    }


@pytest.mark.parametrize(
    ("method", "path", "headers", "content", "status", "message"),
    [
        ("PUT", "/api/v2/send", {}, b"", 405, "PUT is not allowed"),
        ("GET", "/api/v3/send", {}, b"", 404, "no such endpoint: /api/v3/send"),
        (
            "POST",
            "/api/v2/send",
            {"Content-Type": "multipart/form-data"},
            b"key=x",
            200,
            "Missing boundary in multipart.",
        ),
        (
            "POST",
            "/api/v2/send",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "&".join(f"f{i}=1" for i in range(101)).encode(),
            200,
            "Too many fields. Maximum number of fields is 100.",
        ),
    ],
)
async def test_smsoffice_refusals_of_whole_requests_use_the_envelope(
    api: Api,
    method: str,
    path: str,
    headers: dict[str, str],
    content: bytes,
    status: int,
    message: str,
) -> None:
    response = await api.client.request(method, path, headers=headers, content=content)
    assert response.status_code == status
    body = response.json()
    assert (body["Success"], body["Message"], body["Output"]) == (False, message, None)
    assert body["ErrorCode"] == (404 if status == 404 else -100)
    if status == 405:
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_scheduled_at_in_other_digits_is_refused(api: Api) -> None:
    # 1700000000 in Arabic-Indic digits, which int() would read.
    value = "\u0661\u0667" + "\u0660" * 8
    params = {
        "key": api.key,
        "destination": "599000012",
        "sender": "Shop",
        "content": "x",
        "scheduledAt": value,
    }
    body = (await api.client.get("/api/v2/send", params=params)).json()
    assert (body["Success"], body["ErrorCode"]) == (False, -100)
    assert await api.count("messages") == 0


async def test_an_unexpected_fault_is_a_generic_500_in_each_apis_form(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(account_id: int, query: MessageQuery) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(api.messages, "list_messages", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mesiji.test") as client:
        v1 = await client.get("/v1/messages", headers=auth(api))
        legacy = await client.get(
            "/api/v2/getMessageStatus", params={"key": api.key, "reference": "r"}
        )
    assert v1.status_code == 500
    assert v1.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal error; the request may not have been carried out",
        }
    }
    assert legacy.status_code == 500
    assert legacy.json() == {
        "Success": False,
        "Message": "internal error; the request may not have been carried out",
        "Output": None,
        "ErrorCode": -100,
    }
    assert "secret" not in v1.text + legacy.text


async def test_a_reference_is_at_most_100_characters_on_either_api(api: Api) -> None:
    params = {"key": api.key, "destination": "599000013", "sender": "Shop", "content": "x"}
    long = (await api.client.get("/api/v2/send", params={**params, "reference": "r" * 101})).json()
    assert (long["Success"], long["ErrorCode"]) == (False, -100)
    assert long["Message"] == "reference is longer than 100 characters"
    ok = (await api.client.get("/api/v2/send", params={**params, "reference": "r" * 100})).json()
    assert ok["Success"] is True
    body = {"to": "599000014", "text": "x", "sender": "Shop", "reference": "r" * 101}
    v1 = await api.client.post("/v1/messages", json=body, headers=auth(api))
    assert v1.status_code == 400
    assert await api.count("messages") == 1
