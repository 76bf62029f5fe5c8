"""The bad-input campaign: every field of every endpoint of both APIs, poisoned, on both engines.

Each request is built from a good one with one value replaced by a poison (a NUL, a lone
surrogate, other scripts' digits, huge and negative numbers, wrong JSON types, calendar edges,
naive datetimes, over-long text, CR/LF, empty values, forged cursors), plus requests malformed
as a whole (other methods, content types, multipart without a boundary, many fields, broken
JSON, over-long URLs). Whatever the answer, it must hold that:

- no 5xx, except a 503 or 429 with Retry-After;
- a refusal on /v1 is a 4xx with ``{"error": {"code", "message"}}``; under /api/ it is
  smsoffice.ge's envelope with ``Success`` false and a non-zero ``ErrorCode`` (send.aspx: a
  non-zero code as text);
- a refused request wrote nothing: balance and row counts are unchanged.

Every failure is collected, so one run shows them all.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp, Message, Scope

from tests.web.conftest import Api

#: A cursor whose id does not fit a BIGINT: "2020-01-01T00:00:00+00:00|99999999999999999999999".
FORGED_CURSOR = "MjAyMC0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"

#: Text poisons: each is tried in every text field, query parameter and path segment.
TEXT_POISONS: dict[str, str] = {
    "nul": "a\x00b",
    "only_nul": "\x00",
    "nul_in_number": "599123\x00456",
    "high_surrogate": "\ud800",
    "low_surrogate_in_text": "hi \udfff there",
    "arabic_indic_digits": "١٢٣",
    "superscript_digits": "²³",
    "fullwidth_number": "\uff15\uff19\uff19\uff11\uff12\uff13\uff14\uff15\uff16",
    "huge_number": "9" * 40,
    "negative": "-1",
    "zero": "0",
    "float": "1e400",
    "naive_datetime": "2026-01-01T00:00:00",
    "calendar_top": "9999-12-31T23:59:59-05:00",
    "calendar_bottom": "0001-01-01T00:00:00+05:00",
    "over_long": "x" * 20_000,
    # Incompressible: PostgreSQL compresses a long run of one letter below its index row limit.
    "over_long_random": "".join(random.Random(8).choices(string.ascii_letters, k=6_000)),
    "crlf": "a\r\nb",
    "empty": "",
    "blank": "   ",
    "forged_cursor": FORGED_CURSOR,
    "bad_base64": "not base64!",
    "percent": "%",
    "emoji": "😀",
    "bidi_override": "\u202e995",
}
#: JSON-only poisons: wrong types and numbers at the edges.
JSON_POISONS: dict[str, Any] = {
    "null": None,
    "true": True,
    "float_value": 1.5,
    "negative_int": -1,
    "huge_int": 10**30,
    "list": ["599123456"],
    "object": {"a": 1},
    "empty_list": [],
}

GOOD_SEND = {"to": "599123456", "text": "hello", "sender": "Shop"}
SEND_FIELDS = ["to", "text", "sender", "reference", "callback_url", "send_at", "validity", "urgent"]
SMSOFFICE_SEND = {"destination": "599123456", "sender": "Shop", "content": "hello"}


@dataclass
class Campaign:
    """Sends requests and collects every answer that breaks the rules."""

    api: Api
    failures: list[str] = field(default_factory=list)
    sent: int = 0

    async def snapshot(self) -> tuple[int, ...]:
        tables = ["messages", "parts", "stop_list", "idempotency_keys", "notifications"]
        counts = ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
        balance = f"(SELECT balance FROM accounts WHERE id = {self.api.account_id})"
        async with self.api.store.engine.connect() as conn:
            return tuple((await conn.execute(sa.text(f"SELECT {counts}, {balance}"))).one())

    async def request(
        self,
        label: str,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        authed: bool = True,
    ) -> None:
        before = await self.snapshot()
        all_headers = {"Authorization": f"Bearer {self.api.key}"} if authed else {}
        all_headers.update(headers or {})
        self.sent += 1
        try:
            response = await self.api.client.request(
                method, url, content=content, headers=all_headers
            )
        except httpx.HTTPError as exc:  # e.g. the client itself refusing a header
            self.failures.append(f"{label}: the client could not send it: {exc!r}")
            return
        problem, refused = _judge(method, url, response)
        if problem:
            self.failures.append(f"{label}: {problem}")
        if refused and await self.snapshot() != before:
            self.failures.append(f"{label}: refused ({response.status_code}) but wrote")

    def assert_clean(self, at_least: int) -> None:
        assert not self.failures, f"{len(self.failures)} of {self.sent}:\n" + "\n".join(
            self.failures[:40]
        )
        assert self.sent >= at_least


def _judge(method: str, url: str, response: httpx.Response) -> tuple[str | None, bool]:
    """(what is wrong with ``response``, whether it refused the request)."""
    status = response.status_code
    if status >= 500 and not (status == 503 and "retry-after" in response.headers):
        return f"{status} {response.text[:200]!r}", True
    if status == 429 and "retry-after" not in response.headers:
        return "429 without Retry-After", True
    if method == "HEAD":
        return None, status >= 400
    path = httpx.URL(url).path.lower()
    if path == "/api" or path.startswith("/api/"):
        return _judge_smsoffice(path, response)
    if status < 400:
        return None, False
    try:
        error = response.json()["error"]
        ok = isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str)
    except (ValueError, KeyError, TypeError):
        ok = False
    return (None if ok else f"{status} without an error code: {response.text[:200]!r}"), True


def _judge_smsoffice(path: str, response: httpx.Response) -> tuple[str | None, bool]:
    status = response.status_code
    if response.headers.get("content-type", "").startswith("text/plain") and status < 400:
        text = response.text
        if path.rstrip("/").endswith("send.aspx"):
            if text == "01":
                return None, False
            good = text.lstrip("-").isdigit() and int(text) != 0
            return (None if good else f"send.aspx answered {text!r}"), True
        return (None if text.isdigit() else f"balance answered {text[:80]!r}"), False
    try:
        body = response.json()
    except ValueError:
        return f"{status}, not the envelope: {response.text[:200]!r}", True
    if not isinstance(body, dict) or set(body) != {"Success", "Message", "Output", "ErrorCode"}:
        return f"{status}, not the envelope: {response.text[:200]!r}", True
    if body["Success"] is True and status < 400:
        return None, False
    if body["Success"] is not False or not isinstance(body["ErrorCode"], int):
        return f"{status}, a malformed envelope: {body!r}", True
    if body["ErrorCode"] == 0:
        return f"{status}, Success false with ErrorCode 0: {body['Message']!r}", True
    return None, True


def _q(value: str) -> str:
    """``value`` percent-encoded as UTF-8, lone surrogates included (as a client could)."""
    return quote(value, safe="", errors="surrogatepass")


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{_q(k)}={_q(v)}" for k, v in params.items())


def _multipart(params: dict[str, str]) -> tuple[bytes, str]:
    boundary = "poisonboundary"
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in params.items()
    ]
    body = "".join(chunks) + f"--{boundary}--\r\n"
    return body.encode("utf-8", "surrogatepass"), f"multipart/form-data; boundary={boundary}"


def _json(body: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape \ud800, as any JSON encoder may.
    return json.dumps(body, ensure_ascii=True).encode()


JSON = {"Content-Type": "application/json"}


async def _fund(api: Api) -> None:
    # Enough that sends accepted by the campaign never run the balance out.
    await api.store.add_credits(api.account_id, 100_000, "campaign")


def _v1_bodies() -> Iterator[tuple[str, Any]]:
    poisons: dict[str, Any] = {**TEXT_POISONS, **JSON_POISONS}
    for name, poison in poisons.items():
        for key in SEND_FIELDS:
            yield f"send.{key}={name}", {**GOOD_SEND, key: poison}
        yield f"send.to[1]={name}", {**GOOD_SEND, "to": ["599123456", poison]}
        yield (
            f"send.messages.to={name}",
            {
                "sender": "Shop",
                "messages": [{"to": "599123457", "text": "hi"}, {"to": poison, "text": "hi"}],
            },
        )
        yield (
            f"send.messages.text={name}",
            {
                "sender": "Shop",
                "messages": [{"to": "599123458", "text": poison}],
            },
        )
        yield f"send.messages={name}", {"sender": "Shop", "messages": poison}
        yield f"send.body={name}", poison
    for name, poison in TEXT_POISONS.items():
        yield f"send.field-name={name}", {**GOOD_SEND, poison: 1}


async def test_every_field_of_a_v1_send_poisoned(api_on_both: Api) -> None:
    await _fund(api_on_both)
    campaign = Campaign(api_on_both)
    for label, body in _v1_bodies():
        await campaign.request(label, "POST", "/v1/messages", content=_json(body), headers=JSON)
    for name, poison in {**TEXT_POISONS, **JSON_POISONS}.items():
        for body in (
            {"numbers": [poison]},
            {"numbers": poison},
            {"numbers": ["599123456", poison]},
        ):
            label = f"stop-list.numbers={name}"
            await campaign.request(
                label, "POST", "/v1/stop-list", content=_json(body), headers=JSON
            )
    for name, poison in TEXT_POISONS.items():
        if poison.isascii() and "\r" not in poison and "\x00" not in poison:
            headers = {**JSON, "Idempotency-Key": poison}
            good = _json(GOOD_SEND)
            label = f"Idempotency-Key={name}"
            await campaign.request(label, "POST", "/v1/messages", content=good, headers=headers)
    campaign.assert_clean(at_least=500)


async def test_every_query_and_path_parameter_of_v1_poisoned(api_on_both: Api) -> None:
    await _fund(api_on_both)
    campaign = Campaign(api_on_both)
    # A message with history, so listings and look-ups have something to show.
    await campaign.request(
        "good send", "POST", "/v1/messages", content=_json(GOOD_SEND), headers=JSON
    )
    listing = ["status", "reference", "to", "since", "until", "cursor", "limit"]
    for name, poison in TEXT_POISONS.items():
        for key in listing:
            await campaign.request(
                f"list.{key}={name}", "GET", f"/v1/messages?{_query({key: poison})}"
            )
        for key in ["after", "limit"]:
            await campaign.request(
                f"stop-list.{key}={name}", "GET", f"/v1/stop-list?{_query({key: poison})}"
            )
        if poison and "/" not in poison:
            await campaign.request(f"get.id={name}", "GET", f"/v1/messages/{_q(poison)}")
            await campaign.request(f"unstop.number={name}", "DELETE", f"/v1/stop-list/{_q(poison)}")
        await campaign.request(
            f"list.unknown-param={name}", "GET", f"/v1/messages?{_query({poison: '1'})}"
        )
        if poison.isascii() and "\r" not in poison and "\x00" not in poison:
            await campaign.request(
                f"Authorization={name}",
                "GET",
                "/v1/balance",
                headers={"Authorization": f"Bearer {poison}"},
            )
    campaign.assert_clean(at_least=300)


async def test_every_smsoffice_parameter_poisoned_in_every_encoding(api_on_both: Api) -> None:
    await _fund(api_on_both)
    campaign = Campaign(api_on_both)
    key = api_on_both.key
    endpoints = {
        "/api/v2/send": {"key": key, **SMSOFFICE_SEND},
        "/api/send.aspx": {"key": key, **SMSOFFICE_SEND},
        "/api/v2/getBalance": {"key": key},
        "/api/v2/getMessageStatus": {"key": key, "reference": "r-1", "destination": "599123456"},
    }
    options = {"reference": "r-1", "urgent": "true", "scheduledAt": "1700000000"}
    for path, good in endpoints.items():
        keys = [*good, *options] if "send" in path.lower() else list(good)
        for name, poison in TEXT_POISONS.items():
            for param in keys:
                params = {**good, param: poison}
                label = f"{path} {param}={name}"
                await campaign.request(f"GET {label}", "GET", f"{path}?{_query(params)}")
                form = _query(params).encode()
                urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
                await campaign.request(
                    f"POST form {label}", "POST", path, content=form, headers=urlencoded
                )
                body, content_type = _multipart(params)
                await campaign.request(
                    f"POST multipart {label}",
                    "POST",
                    path,
                    content=body,
                    headers={"Content-Type": content_type},
                )
    campaign.assert_clean(at_least=1000)


async def test_requests_malformed_as_a_whole(api_on_both: Api) -> None:
    await _fund(api_on_both)
    campaign = Campaign(api_on_both)
    paths = [
        "/v1/messages",
        "/v1/messages/1",
        "/v1/balance",
        "/v1/stop-list",
        "/v1/stop-list/599123456",
        "/api/v2/send",
        "/api/send.aspx",
        "/api/getBalance",
        "/api/v2/getBalance",
        "/api/v2/getMessageStatus",
        "/API/V2/SEND/",
    ]
    for path in paths:
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]:
            await campaign.request(f"{method} {path}", method, path, content=b"")
    odd_paths = [
        "/v1/messages/%FF",
        "/v1/messages/%00",
        "/v1/stop-list/%ED%A0%80",
        "/api/v2/send%00",
        "/api/v2/%FF",
        "/v1/messages?to=%FF&since=%FF&cursor=%FF",
        "/api/v2/send?key=%FF&destination=%FF&content=%FF&sender=%FF",
        "/v1//messages",
        "/api/v2/send/../getBalance",
    ]
    for path in [
        "/api/nothing",
        "/api/",
        "/api",
        "/v1/nothing",
        "/nothing",
        "/api/v2/send/x",
        *odd_paths,
    ]:
        await campaign.request(f"unknown {path}", "GET", path)
        await campaign.request(f"unknown POST {path}", "POST", path)
    # Over the application's limit (32 KiB); httpx sends at most 64 KiB (see
    # test_an_over_long_url_is_414_in_each_apis_form for longer ones).
    long_query = _query({"key": "k", "content": "x" * 60_000})
    for path in ["/api/v2/send", "/v1/messages", "/api/v2/getMessageStatus"]:
        await campaign.request(f"long URL {path}", "GET", f"{path}?{long_query}")
    good = _json(GOOD_SEND)
    for content_type in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/json; charset=utf-16",
        "",
    ]:
        await campaign.request(
            f"v1 send as {content_type!r}",
            "POST",
            "/v1/messages",
            content=good,
            headers={"Content-Type": content_type},
        )
    for label, raw in {
        "truncated": b'{"to": "599',
        "not json": b"hello",
        "trailing garbage": good + b"}",
        "NaN": b'{"to": "599123456", "text": "hi", "sender": "Shop", "validity": NaN}',
        "Infinity": b'{"to": "599123456", "text": "hi", "sender": "Shop", "validity": Infinity}',
        "huge int": b'{"validity": 1' + b"0" * 5000 + b"}",
        "deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "invalid UTF-8": b'{"to": "599123456", "text": "\xff\xfe", "sender": "Shop"}',
        "UTF-16": json.dumps(GOOD_SEND).encode("utf-16"),
        "NUL byte": b'{"to": "599123456", "text": "a\x00", "sender": "Shop"}',
        "duplicate keys": b'{"text": "a", "text": "\\u0000"}',
        "empty": b"",
    }.items():
        await campaign.request(
            f"v1 body {label}", "POST", "/v1/messages", content=raw, headers=JSON
        )
    key = api_on_both.key
    many_body, many_type = _multipart({f"f{i}": "1" for i in range(2000)})
    forms = {
        "multipart without boundary": ("multipart/form-data", b"key=" + key.encode()),
        "multipart with a wrong boundary": ("multipart/form-data; boundary=zz", b"--yy\r\n"),
        "multipart truncated": (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="key"\r\n\r\nabc',
        ),
        "multipart with a file": (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
            b"hello\r\n--b--\r\n",
        ),
        "many url-encoded fields": (
            "application/x-www-form-urlencoded",
            "&".join(f"f{i}=1" for i in range(5000)).encode(),
        ),
        "many multipart fields": (many_type, many_body),
        "url-encoded invalid UTF-8": ("application/x-www-form-urlencoded", b"key=%ff%fe&a=\xff"),
        "url-encoded NUL": ("application/x-www-form-urlencoded", b"key=" + key.encode() + b"%00"),
    }
    for label, (content_type, raw) in forms.items():
        for path in ["/api/v2/send", "/api/send.aspx", "/api/getBalance"]:
            await campaign.request(
                f"{path} {label}", "POST", path, content=raw, headers={"Content-Type": content_type}
            )
    await campaign.request(
        "body over the limit", "POST", "/api/v2/send", content=b"x" * 2_000_000, headers=JSON
    )
    await campaign.request(
        "v1 body over the limit", "POST", "/v1/messages", content=b"x" * 2_000_000, headers=JSON
    )
    campaign.assert_clean(at_least=130)


async def _raw_get(app: ASGIApp, path: str, query: bytes) -> tuple[int, bytes]:
    """GET ``path?query`` straight into the ASGI app, past the client's URL limit."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"mesiji.test")],
        "client": ("127.0.0.1", 1),
        "server": ("mesiji.test", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


async def test_an_over_long_url_is_414_in_each_apis_form(api: Api) -> None:
    query = b"key=k&content=" + b"x" * 40_000
    status, body = await _raw_get(api.app, "/api/v2/send", query)
    assert status == 414
    assert json.loads(body) == {
        "Success": False,
        "Message": "the URL is over 32768 bytes",
        "Output": None,
        "ErrorCode": -100,
    }
    status, body = await _raw_get(api.app, "/v1/messages", query)
    assert status == 414
    assert json.loads(body)["error"]["code"] == "invalid_request"
    status, _ = await _raw_get(api.app, "/api/v2/send", b"key=k&content=" + b"x" * 32_000)
    assert status == 200


#: Any character, NUL and unpaired surrogates included (Hypothesis leaves surrogates out unless
#: told), weighted towards the ones that broke things before.
_ANY_TEXT = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(["\x00", "\ud800", "\u0661", "\r"]),
    max_size=40,
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ANY_TEXT, inner, max_size=3),
    max_leaves=6,
)
_PROPERTIES = settings(
    max_examples=150,
    deadline=None,
    # One application and database for all the examples: the invariants hold per request.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_PROPERTIES
@given(fields=st.dictionaries(st.sampled_from([*SEND_FIELDS, "messages"]), _JSON_VALUES))
async def test_any_json_in_a_v1_send(api: Api, fields: dict[str, Any]) -> None:
    campaign = Campaign(api)
    body = {**GOOD_SEND, **fields}
    await campaign.request(repr(body), "POST", "/v1/messages", content=_json(body), headers=JSON)
    campaign.assert_clean(at_least=1)


@_PROPERTIES
@given(
    path=st.sampled_from(
        ["/v1/messages", "/v1/stop-list", "/api/v2/send", "/api/v2/getMessageStatus"]
    ),
    params=st.dictionaries(
        st.sampled_from(
            [
                "to",
                "since",
                "until",
                "cursor",
                "limit",
                "status",
                "reference",
                "after",
                "key",
                "destination",
                "sender",
                "content",
                "scheduledAt",
                "urgent",
            ]
        )
        | _ANY_TEXT,
        _ANY_TEXT,
        max_size=5,
    ),
)
async def test_any_query_on_either_api(api: Api, path: str, params: dict[str, str]) -> None:
    campaign = Campaign(api)
    if path.startswith("/api/"):
        params = {"key": api.key, **params}
    await campaign.request(repr(params), "GET", f"{path}?{_query(params)}")
    campaign.assert_clean(at_least=1)
