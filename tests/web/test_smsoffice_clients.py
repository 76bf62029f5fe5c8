"""The smsoffice.ge API as published client libraries call it, request for request.

Each test replays what one library sends (method, path as it spells it, where the parameters
go, how they are encoded, content type) and checks the parts of the answer that library reads
to decide success. The requests were captured from the libraries themselves run against a
gateway (docs/smsoffice-compat.md says which, and how); they are rewritten here, with this
suite's key and sender, and none of the libraries' code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_plus, urlencode

from mesiji.domain.statuses import MessageStatus
from mesiji.storage.message_ports import MessageQuery, MessageView
from tests.web.conftest import Api

GEORGIAN = "გამარჯობა, ეს ტესტია"
LATIN = "Hello, this is a test"
#: The two destinations every client sends to: international form without "+", and national.
NUMBERS = (("995599123456", "995599123456"), ("599123457", "995599123457"))
FORM = "application/x-www-form-urlencoded"


def rfc1738(text: str) -> str:
    """Spaces as "+", the rest percent-encoded: urlencode() in Python and PHP, .NET forms."""
    return quote_plus(text, safe="")


def rfc3986(text: str) -> str:
    """Spaces as "%20": PHP's rawurlencode()."""
    return quote(text, safe="")


def uri_component(text: str) -> str:
    """JavaScript's encodeURIComponent()."""
    return quote(text, safe="-_.!~*'()")


async def stored(api: Api) -> list[MessageView]:
    page, _ = await api.messages.list_messages(api.account_id, MessageQuery(limit=1000))
    return sorted(page, key=lambda view: view.id)


def assert_sent_envelope(body: object) -> None:
    """What the JSON clients read: Success a real boolean, ErrorCode an int 0, a string Message,
    and an Output that a client typing it as a string (SmsOfficeBalanceChecker) can read."""
    assert isinstance(body, dict)
    assert set(body) == {"Success", "Message", "Output", "ErrorCode"}
    assert body["Success"] is True
    assert type(body["ErrorCode"]) is int
    assert body["ErrorCode"] == 0
    assert isinstance(body["Message"], str)
    assert body["Output"] is None


async def test_python_urllib_client_posts_send_aspx_and_reads_01_and_the_balance(
    api: Api,
) -> None:
    """gabisonia/smsoffice: urllib POSTs a url-encoded form to send.aspx and prints the text;
    it appends "\\n NO 91146" (the opt-out line) to every text. The balance is a GET with the
    key pasted into the query string."""
    for raw, e164 in NUMBERS:
        for text in (GEORGIAN, LATIN):
            content = text + "\n NO 91146"
            body = urlencode(
                {"key": api.key, "destination": raw, "sender": "Shop", "content": content}
            )
            response = await api.client.post(
                "/api/send.aspx", content=body.encode(), headers={"content-type": FORM}
            )
            assert response.status_code == 200
            assert response.text == "01"
            view = (await stored(api))[-1]
            assert (view.destination, view.body, view.segments) == (e164, content, 1)
    response = await api.client.get(f"/api/getBalance?key={api.key}")
    assert response.status_code == 200
    assert response.text == "96"
    assert int(response.text) == await api.balance()


async def test_python_requests_client_posts_v2_send_with_reference_and_urgent(api: Api) -> None:
    """otarza/manychat-smsoffice-bridge: requests POSTs a form to /api/v2/send/ (with the
    slash), adds reference (at most 20 bytes) and urgent=true when asked, and reads Success,
    ErrorCode (or Output.ErrorCode when Output is a dict) and Message from the JSON. The
    balance is int(text.strip()) of a GET; any other answer is an error."""
    await api.store.add_to_stop_list(api.account_id, ["995599123457"])
    cases = [
        ("995599123456", GEORGIAN, "bridge-ka-1", False),
        ("995599123456", LATIN, "bridge-en-1", False),
        ("995599123457", GEORGIAN, "bridge-ka-2", True),
    ]
    for destination, text, reference, urgent in cases:
        form = {"key": api.key, "destination": destination, "sender": "Shop", "content": text}
        form["reference"] = reference
        if urgent:
            form["urgent"] = "true"
        response = await api.client.post(
            "/api/v2/send/", content=urlencode(form).encode(), headers={"content-type": FORM}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert_sent_envelope(response.json())
    views = await stored(api)
    assert [(v.destination, v.body, v.reference, v.urgent) for v in views] == [
        (d, t, r, u) for d, t, r, u in cases
    ]

    not_urgent = {"key": api.key, "destination": "995599123457", "sender": "Shop", "content": "x"}
    response = await api.client.post(
        "/api/v2/send/", content=urlencode(not_urgent).encode(), headers={"content-type": FORM}
    )
    body = response.json()
    assert (body["Success"], body["ErrorCode"]) == (False, 75)

    response = await api.client.get("/api/getBalance", params={"key": api.key})
    assert response.status_code == 200
    assert int(response.text.strip()) == await api.balance() == 97

    wrong = {"key": "mk_wrong", "destination": "995599123456", "sender": "Shop", "content": "x"}
    response = await api.client.post(
        "/api/v2/send/", content=urlencode(wrong).encode(), headers={"content-type": FORM}
    )
    body = response.json()
    assert (response.status_code, body["Success"], body["ErrorCode"]) == (200, False, 80)
    assert isinstance(body["Message"], str)
    assert body["Message"]


async def test_typescript_sdk_gets_v2_send_with_encode_uri_component(api: Api) -> None:
    """Parsadanashvili/smsoffice-sdk: fetch GETs /api/v2/send (no slash) with key and sender
    first, then urgent and scheduledAt when given, then destination and content, each through
    encodeURIComponent (an array of numbers is joined with an encoded comma). It parses the
    body as JSON only when the answer's content type says application/json, and returns the
    balance body as it comes."""
    headers = {"user-agent": "SMSOffice-SDK/0.0.1", "cookie": ""}
    prefix = f"/api/v2/send?key={uri_component(api.key)}&sender=Shop"
    for raw, e164 in NUMBERS:
        for text in (GEORGIAN, LATIN + " & more"):
            path = f"{prefix}&destination={raw}&content={uri_component(text)}"
            response = await api.client.get(path, headers=headers)
            assert response.status_code == 200
            assert "application/json" in response.headers["content-type"]
            assert_sent_envelope(response.json())
            view = (await stored(api))[-1]
            assert (view.destination, view.body) == (e164, text)

    path = (
        f"{prefix}&urgent=true&destination={uri_component('995599123456,995599123457')}"
        f"&content={uri_component('Two numbers, urgent')}"
    )
    assert_sent_envelope((await api.client.get(path, headers=headers)).json())
    two = (await stored(api))[-2:]
    assert [(v.destination, v.urgent) for v in two] == [
        ("995599123456", True),
        ("995599123457", True),
    ]

    later = api.clock.now().replace(microsecond=0) + timedelta(days=1)
    path = (
        f"{prefix}&scheduledAt={int(later.timestamp())}&destination=995599123456"
        f"&content={uri_component('Tomorrow')}"
    )
    assert_sent_envelope((await api.client.get(path, headers=headers)).json())
    view = (await stored(api))[-1]
    assert (view.body, view.status, view.send_at) == ("Tomorrow", MessageStatus.SCHEDULED, later)

    response = await api.client.get(
        f"/api/getBalance?key={uri_component(api.key)}", headers=headers
    )
    assert "application/json" not in response.headers["content-type"]
    assert response.text == str(await api.balance()) == "93"


async def test_php_http_build_query_client_reads_error_code_and_message(api: Api) -> None:
    """zgabievi/laravel-smsoffice: Guzzle GETs /api/v2/send?destination&content&key&sender,
    built by http_build_query (spaces as "+"), after urlencode() of key, sender and
    destination (so those are encoded twice). It strips a leading "+" or "00" from the
    number. Success is the absence of a non-zero ErrorCode; otherwise it throws with Message
    and ErrorCode, so both must be there."""
    for raw, e164 in (("995599123456", "995599123456"), ("599123457", "995599123457")):
        for text in (GEORGIAN, LATIN):
            # urlencode(urlencode(x)) of digits, "mk_…" keys and "Shop" is x: keys are
            # URL-safe base64, so the double encoding never changes them.
            path = (
                f"/api/v2/send?destination={raw}&content={rfc1738(text)}"
                f"&key={rfc1738(rfc1738(api.key))}&sender=Shop"
            )
            body = (await api.client.get(path)).json()
            assert body["ErrorCode"] == 0
            view = (await stored(api))[-1]
            assert (view.destination, view.body) == (e164, text)

    refusals = [
        (f"/api/v2/send?content=x&key={api.key}&sender=Shop", 600),
        (f"/api/v2/send?destination=995599123456&key={api.key}&sender=Shop", 800),
        ("/api/v2/send?destination=995599123456&content=x&key=mk_wrong&sender=Shop", 80),
    ]
    for path, code in refusals:
        body = (await api.client.get(path)).json()
        assert type(body["ErrorCode"]) is int
        assert body["ErrorCode"] == code
        assert isinstance(body["Message"], str)
        assert body["Message"]
    assert await api.count("messages") == 4


async def test_laravel_sprintf_urls_with_raw_latin_and_rawurlencoded_georgian(api: Api) -> None:
    """Lotuashvili/laravel-smsoffice and Parsadanashvili/laravel-smsoffice: sprintf into
    /api/v2/send/?key=%s&destination=%s&sender=%s&content=%s&urgent=true, the number with
    995 put in front when missing; a text with non-ASCII characters is rawurlencode()d, an
    ASCII text goes in as it is (Guzzle then escapes its spaces as %20). Lotuashvili's adds
    &reference= and casts the balance body with (int), which must therefore be digits."""
    for raw, e164 in NUMBERS:
        to = raw if raw.startswith("995") else "995" + raw
        for text, written in (
            (GEORGIAN, rfc3986(GEORGIAN)),
            (LATIN, "Hello,%20this%20is%20a%20test"),
        ):
            path = (
                f"/api/v2/send/?key={api.key}&destination={to}&sender=Shop&content={written}"
                f"&urgent=true&reference=lotu-{raw}"
            )
            response = await api.client.get(path)
            assert_sent_envelope(response.json())
            view = (await stored(api))[-1]
            assert (view.destination, view.body, view.urgent, view.reference) == (
                e164,
                text,
                True,
                f"lotu-{raw}",
            )
    response = await api.client.get(f"/api/getBalance?key={api.key}")
    assert response.text.isdigit()
    assert int(response.text) == await api.balance() == 96


async def test_wordpress_plugin_posts_multipart_with_the_key_in_the_query(api: Api) -> None:
    """nsroot/Woocommerce_smsoffice.ge: PHP curl POSTs multipart/form-data (CURLOPT_POSTFIELDS
    with an array) to /api/v2/send/?key=…, with the billing phone as the customer typed it,
    a Georgian text and urgent=true, and logs the answer."""
    text = "თქვენი შეკვეთა მიღებულია! შეკვეთის ნომერი: 1042.https://shop.example.ge"
    boundary = "------------------------879449cff409b6e8"
    for phone, e164 in (
        ("995599123456", "995599123456"),
        ("599123457", "995599123457"),
        ("+995 599 12-34-56", "995599123456"),
    ):
        fields = {"destination": phone, "sender": "Shop", "content": text, "urgent": "true"}
        body = (
            b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + value.encode()
                + b"\r\n"
                for name, value in fields.items()
            )
            + f"--{boundary}--\r\n".encode()
        )
        response = await api.client.post(
            f"/api/v2/send/?key={api.key}",
            content=body,
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert_sent_envelope(response.json())
        view = (await stored(api))[-1]
        assert (view.destination, view.body, view.urgent, view.segments) == (e164, text, True, 2)


async def test_dotnet_clients_post_form_url_encoded_and_need_http_200(api: Api) -> None:
    """OP-Solutions/SMSOfficeSharp and LevanTvauri/smsoffice-balance-checker: HttpClient POSTs
    FormUrlEncodedContent (no charset) to /api/v2/send/; anything but HTTP 200 is an error,
    then the JSON's ErrorCode (an int) picks the exception, and the balance checker reads
    Output into a string. The checker GETs /api/getBalance/?key= (slash before the query) and
    int.TryParse()s the body, then sends its alert with urgent=true."""
    numbers = ",".join(raw for raw, _ in NUMBERS)
    for text in (GEORGIAN, LATIN):
        form = {"key": api.key, "destination": numbers, "sender": "Shop", "content": text}
        response = await api.client.post(
            "/api/v2/send/", content=urlencode(form).encode(), headers={"content-type": FORM}
        )
        assert response.status_code == 200
        assert_sent_envelope(response.json())
    assert [v.destination for v in await stored(api)] == [e164 for _, e164 in NUMBERS] * 2

    unknown = {"key": api.key, "destination": "995599123456", "sender": "Nobody", "content": "x"}
    response = await api.client.post(
        "/api/v2/send/", content=urlencode(unknown).encode(), headers={"content-type": FORM}
    )
    assert response.status_code == 200
    assert response.json()["ErrorCode"] == 150

    response = await api.client.get(f"/api/getBalance/?key={api.key}")
    assert response.status_code == 200
    assert int(response.text) == await api.balance() == 96
    alert = {
        "key": api.key,
        "destination": "599123457",
        "sender": "Shop",
        "content": f"Low SMS Balance - {response.text}",
        "urgent": "true",
    }
    response = await api.client.post(
        "/api/v2/send/", content=urlencode(alert).encode(), headers={"content-type": FORM}
    )
    assert_sent_envelope(response.json())


async def test_dotnet_legacy_client_succeeds_only_on_exactly_01(api: Api) -> None:
    """gabisonia/SimpleSmsOfficeClient: HttpClient POSTs a form to /api/send.aspx; success is
    a 2xx whose body is exactly "01" (no newline, no JSON)."""
    for raw, _ in NUMBERS:
        for text in (GEORGIAN, LATIN):
            form = {"key": api.key, "destination": raw, "sender": "Shop", "content": text}
            response = await api.client.post(
                "/api/send.aspx", content=urlencode(form).encode(), headers={"content-type": FORM}
            )
            assert response.is_success
            assert response.content == b"01"
    form = {"key": "mk_wrong", "destination": "995599123456", "sender": "Shop", "content": "x"}
    response = await api.client.post(
        "/api/send.aspx", content=urlencode(form).encode(), headers={"content-type": FORM}
    )
    assert response.content != b"01"
    assert await api.count("messages") == 4


async def test_status_by_reference_with_the_number_as_the_send_had_it(api: Api) -> None:
    """No library above reads statuses; applications that do send the reference and the
    destination, either in the form the send used (national or international)."""
    await api.client.get(
        f"/api/v2/send/?key={api.key}&destination=599123457&sender=Shop&content=x"
        "&reference=status-1"
    )
    for destination in ("599123457", "995599123457", "+995 599 12 34 57", None):
        params = {"key": api.key, "reference": "status-1"}
        if destination is not None:
            params["destination"] = destination
        body = (await api.client.get("/api/v2/getMessageStatus/", params=params)).json()
        assert (body["Success"], body["ErrorCode"]) == (True, 0)
        [entry] = body["Output"]
        assert (entry["Destination"], entry["Reference"], entry["Status"]) == (
            "995599123457",
            "status-1",
            "queued",
        )
        assert datetime.fromisoformat(entry["Timestamp"]).tzinfo == UTC
    params = {"key": api.key, "reference": "status-1", "destination": "995599123456"}
    body = (await api.client.get("/api/v2/getMessageStatus/", params=params)).json()
    assert (body["Success"], body["Output"]) == (False, [])
