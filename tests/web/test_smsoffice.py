"""The smsoffice.ge-compatible API, as its existing client libraries call it."""

from __future__ import annotations

import pytest

from mesiji.storage.message_ports import MessageQuery
from tests.web.conftest import MAX_BODY, Api

GEORGIAN = "გამარჯობა, თქვენი კოდია 1234"


async def test_get_send_with_query_parameters(api: Api) -> None:
    response = await api.client.get(
        "/api/v2/send/",
        params={
            "key": api.key,
            "destination": "995599000001,995599000002",
            "sender": "Shop",
            "content": GEORGIAN,
            "reference": "order-1",
        },
    )
    assert response.status_code == 200
    assert response.json() == {"Success": True, "Message": "Sent", "Output": None, "ErrorCode": 0}
    assert await api.count("messages") == 2
    assert await api.balance() == 98


@pytest.mark.parametrize("path", ["/api/v2/send", "/API/V2/Send/", "/api/v2/SEND"])
async def test_paths_in_any_case_with_or_without_slash_and_no_redirect(api: Api, path: str) -> None:
    response = await api.client.post(
        path,
        data={"key": api.key, "destination": "599000001", "sender": "Shop", "content": "Hi"},
    )
    assert response.status_code == 200
    assert response.json()["ErrorCode"] == 0


async def test_form_post_with_query_and_body_together_plus_and_newlines(api: Api) -> None:
    body = "destination=995599000003&content=Hello+world%0Asecond%20line&unknown=1"
    response = await api.client.post(
        "/api/v2/send",
        params={"key": api.key, "sender": "Shop"},
        content=body.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["Success"] is True
    page, _ = await api.messages.list_messages(api.account_id, MessageQuery())
    assert page[0].body == "Hello world\nsecond line"


async def test_multipart_post_with_utf8_without_charset(api: Api) -> None:
    response = await api.client.post(
        "/api/v2/send",
        files={
            "key": (None, api.key),
            "destination": (None, "995599000004"),
            "sender": (None, "Shop"),
            "content": (None, GEORGIAN.encode()),
        },
    )
    assert response.json()["Success"] is True
    page, _ = await api.messages.list_messages(api.account_id, MessageQuery())
    assert page[0].body == GEORGIAN
    assert page[0].segments == 1


async def test_balance_is_a_bare_integer(api: Api) -> None:
    for path in ("/api/getBalance", "/api/getbalance/"):
        response = await api.client.get(path, params={"key": api.key})
        assert response.status_code == 200
        assert response.text == "100"


async def test_legacy_send_aspx_answers_01(api: Api) -> None:
    params = {"key": api.key, "destination": "599000005", "sender": "Shop", "content": "x"}
    assert (await api.client.get("/api/send.aspx", params=params)).text == "01"
    assert (await api.client.post("/api/send.aspx", data=params)).text == "01"
    assert await api.count("messages") == 2


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"destination": "599000001", "sender": "Shop", "content": "x"}, 500),
        ({"key": "mk_wrong", "destination": "599000001", "sender": "Shop", "content": "x"}, 80),
        ({"sender": "Shop", "content": "x"}, 600),
        ({"destination": "599000001", "content": "x"}, 700),
        ({"destination": "599000001", "sender": "Shop"}, 800),
        ({"destination": "12,abc", "sender": "Shop", "content": "x"}, 10),
        ({"destination": "", "sender": "Shop", "content": "x"}, 70),
        ({"destination": "599000001", "sender": "Shop", "content": "   "}, 60),
        ({"destination": "599000001", "sender": "Shop", "content": "ა" * 2000}, 40),
        ({"destination": "599000001", "sender": "Nobody", "content": "x"}, 150),
        ({"destination": "599000001", "sender": "Pending", "content": "x"}, 150),
        ({"destination": "599000001", "sender": "!!bad!!", "content": "x"}, 110),
    ],
)
async def test_business_errors_are_http_200_with_the_smsoffice_code_and_write_nothing(
    api: Api, params: dict[str, str], code: int
) -> None:
    full = {"key": api.key, **params} if code != 500 and "key" not in params else params
    response = await api.client.get("/api/v2/send", params=full)
    assert response.status_code == 200
    body = response.json()
    assert body["Success"] is False
    assert body["ErrorCode"] == code
    assert body["Output"] is None
    assert isinstance(body["Message"], str)
    assert body["Message"]
    assert await api.count("messages") == 0
    assert await api.balance() == 100


async def test_insufficient_balance_is_20(api: Api) -> None:
    numbers = ",".join(f"9955990{i:05d}" for i in range(101))
    response = await api.client.post(
        "/api/v2/send",
        data={"key": api.key, "destination": numbers, "sender": "Shop", "content": "x"},
    )
    assert response.json()["ErrorCode"] == 20
    assert await api.count("messages") == 0


async def test_stop_listed_number_is_75_unless_urgent(api: Api) -> None:
    await api.store.add_to_stop_list(api.account_id, ["995599000009"])
    params = {"key": api.key, "destination": "599000009", "sender": "Shop", "content": "x"}
    assert (await api.client.get("/api/v2/send", params=params)).json()["ErrorCode"] == 75
    urgent = {**params, "urgent": "true"}
    assert (await api.client.get("/api/v2/send", params=urgent)).json()["ErrorCode"] == 0


async def test_message_status_by_reference(api: Api) -> None:
    await api.client.get(
        "/api/v2/send",
        params={
            "key": api.key,
            "destination": "599000010",
            "sender": "Shop",
            "content": "x",
            "reference": "r-77",
        },
    )
    response = await api.client.get(
        "/api/v2/getMessageStatus/",
        params={"key": api.key, "destination": "995599000010", "reference": "r-77"},
    )
    body = response.json()
    assert body["Success"] is True
    assert body["ErrorCode"] == 0
    assert body["Output"][0]["Destination"] == "995599000010"
    assert body["Output"][0]["Status"] == "queued"


async def test_scheduled_at_in_unix_seconds_holds_the_message_until_then(api: Api) -> None:
    params = {"key": api.key, "destination": "599000011", "sender": "Shop", "content": "x"}
    now = int(api.clock.now().timestamp())
    later = {**params, "scheduledAt": str(now + 3600)}
    assert (await api.client.get("/api/v2/send", params=later)).json()["ErrorCode"] == 0
    past = {**params, "scheduledAt": str(now - 60)}
    assert (await api.client.get("/api/v2/send", params=past)).json()["ErrorCode"] == 0
    page, _ = await api.messages.list_messages(api.account_id, MessageQuery())
    by_status = {view.status.value: view for view in page}
    assert set(by_status) == {"scheduled", "queued"}
    assert by_status["scheduled"].send_at is not None
    assert int(by_status["scheduled"].send_at.timestamp()) == now + 3600
    assert by_status["queued"].send_at is None


@pytest.mark.parametrize("value", ["tomorrow", "1767225600.5", "1767225600000000"])
async def test_a_scheduled_at_that_is_not_unix_seconds_is_refused_not_sent_now(
    api: Api, value: str
) -> None:
    params = {
        "key": api.key,
        "destination": "599000012",
        "sender": "Shop",
        "content": "x",
        "scheduledAt": value,
    }
    body = (await api.client.get("/api/v2/send", params=params)).json()
    assert body["Success"] is False
    assert body["ErrorCode"] != 0
    assert await api.count("messages") == 0
    assert await api.balance() == 100


async def test_an_oversized_form_gets_the_smsoffice_envelope_with_413(api: Api) -> None:
    for path in ("/api/v2/send/", "/API/send.aspx"):
        response = await api.client.post(
            path,
            data={"key": api.key, "destination": "599000001", "sender": "Shop"},
            files={"content": ("c.txt", b"x" * (2 * MAX_BODY))},
        )
        assert response.status_code == 413
        body = response.json()
        assert (body["Success"], body["ErrorCode"], body["Output"]) == (False, -100, None)
    assert await api.count("messages") == 0
