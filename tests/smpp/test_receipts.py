"""Tests for mesiji.smpp.receipts: SMPP 3.4 Appendix B delivery receipts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.domain.delivery import DeliveryState
from mesiji.errors import SmppError
from mesiji.smpp.codec import decode
from mesiji.smpp.constants import EsmClass, MessageState
from mesiji.smpp.pdus import DeliverSm
from mesiji.smpp.receipts import (
    MESSAGE_STATE_TO_DELIVERY_STATE,
    STAT_WORDS,
    Receipt,
    ReceiptError,
    canonical_message_id,
    format_receipt,
    message_id_keys,
    parse_receipt,
    receipt_from_pdu,
    receipt_text,
    stat_word,
    state_from_message_state,
    state_from_stat,
)

D = DeliveryState


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


# (body, expected fields of the Receipt). Shapes seen from real SMSCs and gateways.
RECEIPTS = [
    pytest.param(
        b"id:0123456789 sub:001 dlvrd:001 submit date:2301011200 done date:2301011201"
        b" stat:DELIVRD err:000 text:Hello world",
        {
            "message_id": "0123456789",
            "state": D.DELIVERED,
            "stat": "DELIVRD",
            "err": "000",
            "sub": 1,
            "dlvrd": 1,
            "submit_date": utc("2023-01-01 12:00:00"),
            "done_date": utc("2023-01-01 12:01:00"),
            "text": "Hello world",
        },
        id="appendix-b",
    ),
    pytest.param(
        b"id:7f3a9c2e sub:001 dlvrd:000 submit date:2405061530 done date:2405061545"
        b" stat:UNDELIV err:001 text:",
        {"message_id": "7f3a9c2e", "state": D.UNDELIVERED, "err": "001", "dlvrd": 0, "text": ""},
        id="hex-id-empty-text",
    ),
    pytest.param(
        b"ID:12345 SUB:001 DLVRD:001 SUBMIT DATE:2301011200 DONE DATE:2301011201"
        b" STAT:DELIVRD ERR:000 TEXT:abc",
        {
            "message_id": "12345",
            "state": D.DELIVERED,
            "submit_date": utc("2023-01-01 12:00:00"),
            "done_date": utc("2023-01-01 12:01:00"),
            "text": "abc",
        },
        id="upper-case-keys",
    ),
    pytest.param(
        b"Id:00000042 Sub:1 Dlvrd:1 Submit_Date:2301011200 Done_Date:2301011201 Stat:delivrd"
        b" Err:0 Text:x",
        {"message_id": "00000042", "state": D.DELIVERED, "stat": "delivrd", "err": "0"},
        id="mixed-case-underscored-dates-leading-zeros",
    ),
    pytest.param(
        b"id:42 stat:EXPIRED",
        {
            "message_id": "42",
            "state": D.EXPIRED,
            "sub": None,
            "dlvrd": None,
            "submit_date": None,
            "done_date": None,
            "err": None,
            "text": None,
        },
        id="missing-fields",
    ),
    pytest.param(
        b"id:42 sub:001 dlvr:001 submit date:2301011200 done date:2301011201 stat:DELIVRD err:0",
        {"dlvrd": 1, "state": D.DELIVERED, "text": None},
        id="dlvr-instead-of-dlvrd",
    ),
    pytest.param(
        b"id:42 sub:001 dlvrd:001 submit date:2301011200 done date:2301011201 stat:DELIVRD"
        b" err:000 mcc:262 mnc:01 price:0.05 text:Hi",
        {"state": D.DELIVERED, "err": "000", "text": "Hi"},
        id="extra-fields",
    ),
    pytest.param(
        b"id:999 sub:001 dlvrd:000 submit date:2301011200 done date:2301011201 stat:REJECTD"
        b" err:005 text:stat:DELIVRD id:1 err:0",
        {"message_id": "999", "state": D.REJECTED, "err": "005", "text": "stat:DELIVRD id:1 err:0"},
        id="text-with-fields-inside",
    ),
    pytest.param(
        b"id:5 stat:DELIVRD text:a: b :: c:",
        {"text": "a: b :: c:"},
        id="text-with-colons",
    ),
    pytest.param(
        b"id:5 sub:001 dlvrd:001 submit date:230101120030 done date:230101120145 stat:DELIVRD",
        {"submit_date": utc("2023-01-01 12:00:30"), "done_date": utc("2023-01-01 12:01:45")},
        id="12-digit-dates",
    ),
    pytest.param(
        b"id:5 submit date:2313451299 done date:23010112 stat:DELIVRD",
        {"submit_date": None, "done_date": None},
        id="invalid-dates",
    ),
    pytest.param(
        b"  id:  42   sub: 001  dlvrd:   001 submit  date: 2301011200 stat:   DELIVRD  err: ",
        {
            "message_id": "42",
            "sub": 1,
            "dlvrd": 1,
            "submit_date": utc("2023-01-01 12:00:00"),
            "stat": "DELIVRD",
            "err": None,
        },
        id="extra-spaces",
    ),
    pytest.param(b"id:abc:def stat:DELIVRD", {"message_id": "abc:def"}, id="colon-inside-value"),
    pytest.param(b"stat:DELIVRD id:77 err:000", {"message_id": "77"}, id="any-order"),
    pytest.param(
        b"id:1 stat:DELIVRD id:2 stat:UNDELIV",
        {"message_id": "1", "state": D.DELIVERED},
        id="first-repeat-wins",
    ),
    pytest.param(b"id:1 stat:DELIVRD text:ok\x00", {"text": "ok"}, id="nul-terminated"),
    pytest.param(b"id:1 stat:DELIVRD text:caf\xe9", {"text": "caf\u00e9"}, id="latin-1-text"),
    pytest.param("id:1 stat:delivered", {"state": D.DELIVERED}, id="str-body"),
    pytest.param(b"id:1 stat:UNDELIVERABLE", {"state": D.UNDELIVERED}, id="undeliverable"),
    pytest.param(b"id:1 stat:FAILED", {"state": D.UNDELIVERED}, id="failed"),
    pytest.param(b"id:1 stat:Rejected", {"state": D.REJECTED}, id="rejected-word"),
    pytest.param(b"id:1 stat:ACKED", {"state": D.ACCEPTED}, id="acked"),
    pytest.param(b"id:1 stat:ACCEPTED", {"state": D.ACCEPTED}, id="accepted-word"),
    pytest.param(b"id:1 stat:ENROUTE", {"state": D.ENROUTE}, id="enroute"),
    pytest.param(b"id:1 stat:DELETED", {"state": D.DELETED}, id="deleted"),
    pytest.param(b"id:1 stat:BOGUS", {"state": D.UNKNOWN, "stat": "BOGUS"}, id="unknown-word"),
    pytest.param(b"id:1", {"state": D.UNKNOWN, "stat": None}, id="no-stat"),
    pytest.param(b"id:1 sub:abc dlvrd:\xb2", {"sub": None, "dlvrd": None}, id="non-numeric-counts"),
]


@pytest.mark.parametrize(("body", "expected"), RECEIPTS)
def test_parse_real_world_receipts(body: bytes | str, expected: dict[str, Any]) -> None:
    receipt = parse_receipt(body)
    for name, value in expected.items():
        assert getattr(receipt, name) == value, name


def test_dates_are_utc_aware() -> None:
    receipt = parse_receipt(b"id:1 submit date:2301011200 done date:2301011201")
    assert receipt.submit_date is not None
    assert receipt.submit_date.tzinfo is UTC


def test_receipted_message_id_overrides_text_id() -> None:
    receipt = parse_receipt(b"id:123 stat:DELIVRD", receipted_message_id="7B")
    assert receipt.message_id == "7B"


def test_blank_receipted_message_id_falls_back_to_text() -> None:
    receipt = parse_receipt(b"id:123 stat:DELIVRD", receipted_message_id=" \x00")
    assert receipt.message_id == "123"


def test_message_state_overrides_stat() -> None:
    receipt = parse_receipt(b"id:1 stat:DELIVRD", message_state=MessageState.UNDELIVERABLE)
    assert receipt.state is D.UNDELIVERED
    assert receipt.stat == "DELIVRD"


@pytest.mark.parametrize("value", [0, 9, 255, -1])
def test_invalid_message_state_falls_back_to_stat(value: int) -> None:
    assert parse_receipt(b"id:1 stat:EXPIRED", message_state=value).state is D.EXPIRED


def test_tlvs_only() -> None:
    receipt = parse_receipt(
        b"",
        receipted_message_id="abc",
        message_state=MessageState.DELIVERED,
        network_error_code=b"\x03\x00\x01",
    )
    assert receipt == Receipt(
        message_id="abc", state=D.DELIVERED, network_error_code=b"\x03\x00\x01"
    )


@pytest.mark.parametrize(
    "body", [b"", b"stat:DELIVRD err:000", b"id: stat:DELIVRD", b"text:id:123", b"\x00\x00"]
)
def test_no_id_raises_receipt_error(body: bytes) -> None:
    with pytest.raises(ReceiptError):
        parse_receipt(body)


def test_receipt_error_is_an_smpp_error() -> None:
    assert issubclass(ReceiptError, SmppError)


@pytest.mark.parametrize(
    ("state", "final"),
    [
        (D.DELIVERED, True),
        (D.UNDELIVERED, True),
        (D.EXPIRED, True),
        (D.DELETED, True),
        (D.REJECTED, True),
        (D.ACCEPTED, False),
        (D.UNKNOWN, False),
        (D.ENROUTE, False),
    ],
)
def test_is_final(state: DeliveryState, final: bool) -> None:
    assert state.is_final is final
    assert Receipt(message_id="1", state=state).is_final is final


def test_every_message_state_is_mapped() -> None:
    assert set(MESSAGE_STATE_TO_DELIVERY_STATE) == set(MessageState)
    assert set(MESSAGE_STATE_TO_DELIVERY_STATE.values()) == set(DeliveryState)
    for value in MessageState:
        assert state_from_message_state(value) is MESSAGE_STATE_TO_DELIVERY_STATE[value]


def test_stat_words() -> None:
    for state in DeliveryState:
        assert state_from_stat(stat_word(state)) is state
        assert len(stat_word(state)) == 7  # Appendix B: stat is 7 characters
    assert all(word == word.upper() for word in STAT_WORDS)
    assert state_from_stat(" delivrd ") is D.DELIVERED


# --- message ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted", "receipted"),
    [
        ("0A3F", "2623"),
        ("2623", "0A3F"),
        ("00000A3F", "a3f"),
        ("a3f", "00000A3F"),
        ("1234567890", "499602D2"),
        ("ff", "00000255"),
        ("12 34", "1234"),
        ("msg-7", "MSG-7"),
        ("000", "0"),
    ],
)
def test_message_id_keys_match(submitted: str, receipted: str) -> None:
    assert set(message_id_keys(submitted)) & set(message_id_keys(receipted))


@pytest.mark.parametrize(
    ("a", "b"), [("0A3F", "0A3E"), ("2623", "2624"), ("msg-7", "msg-8"), ("abc", "abd")]
)
def test_message_id_keys_do_not_match_other_ids(a: str, b: str) -> None:
    assert not set(message_id_keys(a)) & set(message_id_keys(b))


@pytest.mark.parametrize(
    ("message_id", "keys"),
    [
        ("2623", ("2623", "A3F", "9763")),
        ("0A3F", ("A3F", "2623")),
        ("00000a3f", ("A3F", "2623")),
        (" 12 34 ", ("1234", "4D2", "4660")),
        ("msg-7", ("MSG-7",)),
        ("000", ("0",)),
        ("0", ("0",)),
        ("", ("",)),
        ("7", ("7",)),
        ("\u0661\u0662", ("\u0661\u0662",)),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_message_id_keys_order(message_id: str, keys: tuple[str, ...]) -> None:
    assert message_id_keys(message_id) == keys
    assert canonical_message_id(message_id) == keys[0]


def test_long_ids_keep_only_the_literal_key() -> None:
    assert message_id_keys("1" * 65) == ("1" * 65,)
    assert len(message_id_keys("1" * 64)) == 3


@given(st.integers(min_value=0, max_value=2**128), st.integers(min_value=0, max_value=8))
def test_decimal_and_hex_forms_share_a_key(number: int, padding: int) -> None:
    decimal = "0" * padding + str(number)
    hexadecimal = "0" * padding + f"{number:x}"
    assert set(message_id_keys(decimal)) & set(message_id_keys(hexadecimal))


@given(st.text(max_size=80))
def test_message_id_keys_total(message_id: str) -> None:
    keys = message_id_keys(message_id)
    assert keys
    assert len(set(keys)) == len(keys)
    assert canonical_message_id(message_id) == keys[0]


# --- formatting --------------------------------------------------------------------------


def test_format_receipt_appendix_b() -> None:
    body = format_receipt(
        message_id="1F2E",
        stat="DELIVRD",
        submit_date=utc("2024-03-09 08:05:59"),
        done_date=utc("2024-03-09 08:06:00"),
        text="Your code is 123456, valid 5 min",
    )
    assert body == (
        b"id:1F2E sub:001 dlvrd:001 submit date:2403090805 done date:2403090806"
        b" stat:DELIVRD err:000 text:Your code is 123456,"
    )


def test_format_receipt_defaults_dlvrd_to_zero_when_not_delivered() -> None:
    body = format_receipt(
        message_id="9",
        stat="UNDELIV",
        err="001",
        submit_date=utc("2024-01-01 00:00:00"),
        done_date=utc("2024-01-01 00:00:00"),
        sub=2,
    )
    assert b" sub:002 dlvrd:000 " in body
    assert body.endswith(b"stat:UNDELIV err:001 text:")


def test_format_receipt_converts_to_utc_and_replaces_non_latin_1() -> None:
    plus_two = timezone(timedelta(hours=2))
    body = format_receipt(
        message_id="1",
        stat="DELIVRD",
        submit_date=datetime(2024, 1, 1, 2, 0, tzinfo=plus_two),
        done_date=datetime(2024, 1, 1, 2, 30, tzinfo=plus_two),
        text="\u041f\u0440\u0438\u0432\u0435\u0442 caf\u00e9",
    )
    assert b"submit date:2401010000 done date:2401010030" in body
    assert body.endswith(b"text:?????? caf\xe9")


# Appendix B dates have two-digit years and minute precision. Hypothesis wants naive bounds.
_minutes = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001
    max_value=datetime(2099, 12, 31, 23, 59),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(second=0, microsecond=0))
_ids = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=("Zs", "Zl", "Zp", "Cc")),
    min_size=1,
    max_size=65,
)
_latin_1_text = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters="\x00"), max_size=40
)


@given(
    message_id=_ids,
    state=st.sampled_from(DeliveryState),
    err=st.from_regex(r"[0-9A-Za-z]{1,8}", fullmatch=True),
    submit_date=_minutes,
    done_date=_minutes,
    text=_latin_1_text,
    sub=st.integers(min_value=0, max_value=999),
    dlvrd=st.one_of(st.none(), st.integers(min_value=0, max_value=999)),
)
def test_format_parse_round_trip(
    *,
    message_id: str,
    state: DeliveryState,
    err: str,
    submit_date: datetime,
    done_date: datetime,
    text: str,
    sub: int,
    dlvrd: int | None,
) -> None:
    body = format_receipt(
        message_id=message_id,
        stat=stat_word(state),
        err=err,
        submit_date=submit_date,
        done_date=done_date,
        text=text,
        sub=sub,
        dlvrd=dlvrd,
    )
    receipt = parse_receipt(body)
    expected_dlvrd = dlvrd if dlvrd is not None else int(state is D.DELIVERED)
    assert receipt == Receipt(
        message_id=message_id,
        state=state,
        stat=stat_word(state),
        err=err,
        sub=sub,
        dlvrd=expected_dlvrd,
        submit_date=submit_date,
        done_date=done_date,
        text=text[:20],
    )


# --- fuzzing -----------------------------------------------------------------------------

_FIELD_WORDS = [
    "id:",
    "ID:",
    " sub:",
    " dlvrd:",
    " dlvr:",
    " submit date:",
    " done date:",
    " stat:",
    " err:",
    " text:",
    " ",
    ":",
    "\x00",
    "DELIVRD",
    "2301011200",
    "99999999999999999999999",
    "0" * 30,
]


def _parse_or_receipt_error(body: bytes | str, **tlvs: Any) -> None:
    try:
        receipt = parse_receipt(body, **tlvs)
    except ReceiptError:
        return
    assert receipt.message_id
    assert isinstance(receipt.state, DeliveryState)
    for moment in (receipt.submit_date, receipt.done_date):
        assert moment is None or moment.tzinfo is UTC


@pytest.mark.slow
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(body: bytes) -> None:
    _parse_or_receipt_error(body)


@pytest.mark.slow
@given(st.text(max_size=400))
def test_fuzz_arbitrary_text(body: str) -> None:
    _parse_or_receipt_error(body)


@pytest.mark.slow
@given(
    st.lists(st.one_of(st.sampled_from(_FIELD_WORDS), st.text(max_size=12)), max_size=40),
    st.one_of(st.none(), st.text(max_size=70)),
    st.one_of(st.none(), st.integers(min_value=-(2**31), max_value=2**31)),
    st.one_of(st.none(), st.binary(max_size=4)),
)
def test_fuzz_receipt_like_text(
    words: list[str],
    receipted_message_id: str | None,
    message_state: int | None,
    network_error_code: bytes | None,
) -> None:
    _parse_or_receipt_error(
        "".join(words),
        receipted_message_id=receipted_message_id,
        message_state=message_state,
        network_error_code=network_error_code,
    )


@pytest.mark.slow
def test_large_bodies_parse_quickly() -> None:
    bodies = [
        b"a" * 200_000,
        b"a " * 100_000,
        b"submit" + b"_" * 200_000,
        b"id:1 " + b"x:" * 100_000,
        b"id:" + b"9" * 200_000 + b" sub:" + b"9" * 100_000,
        b"id:1 text:" + b"stat:DELIVRD " * 20_000,
    ]
    started = time.perf_counter()
    for body in bodies:
        _parse_or_receipt_error(body)
    assert time.perf_counter() - started < 2.0


# --- NULs and malformed TLVs from hostile or careless SMSCs ------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"id:7A sub:001 dlvrd:001 stat:DELIVRD err:000\x00",
        b"\x00id:7A\x00sub:001\x00dlvrd:001\x00stat:DELIVRD\x00err:000\x00",
        b"id:\x007A stat:DELIVRD\x00\x00err:000 text:\x00",
        b"\x00\x00\x00id:7A\x00 stat:DELIVRD\x00 err:000",
    ],
)
def test_nuls_separate_fields_as_whitespace_does(body: bytes) -> None:
    receipt = parse_receipt(body)
    assert (receipt.message_id, receipt.state, receipt.stat, receipt.err) == (
        "7A",
        D.DELIVERED,
        "DELIVRD",
        "000",
    )


def _receipt_pdu(body: bytes, *tlvs: bytes) -> DeliverSm:
    """A deliver_sm as it comes off the wire, carrying ``body`` and the raw TLVs ``tlvs``."""
    body_octets = (
        b"\x00"  # service_type
        + b"\x01\x01995599000001\x00"  # source_addr_ton/npi, source_addr
        + b"\x05\x00Mesiji\x00"  # dest_addr_ton/npi, destination_addr
        + bytes((int(EsmClass.smsc_delivery_receipt), 0, 0))  # esm_class, protocol, priority
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + b"\x00\x00\x00\x00"  # registered_delivery, replace, data_coding, sm_default_msg_id
        + bytes((len(body),))
        + body
        + b"".join(tlvs)
    )
    length = 16 + len(body_octets)
    pdu = decode(length.to_bytes(4) + bytes.fromhex("00000005 00000000 00000009") + body_octets)
    assert isinstance(pdu, DeliverSm)
    return pdu


def test_a_receipt_with_an_empty_message_state_is_read_from_its_text() -> None:
    pdu = _receipt_pdu(b"id:7A stat:UNDELIV err:034", bytes.fromhex("04270000"))
    receipt = receipt_from_pdu(pdu)
    assert (receipt.message_id, receipt.state, receipt.err) == ("7A", D.UNDELIVERED, "034")


def test_a_two_octet_network_error_code_is_kept() -> None:
    pdu = _receipt_pdu(
        b"id:7A stat:UNDELIV",
        bytes.fromhex("04230002 0022"),  # §5.3.2.31 says 3 octets
        bytes.fromhex("04270001 05"),
    )
    receipt = receipt_from_pdu(pdu)
    assert (receipt.state, receipt.network_error_code) == (D.UNDELIVERED, b"\x00\x22")


def test_a_receipted_message_id_with_nul_padding_is_read_up_to_its_first_nul() -> None:
    pdu = _receipt_pdu(b"id:FFFF stat:DELIVRD", bytes.fromhex("001e0006 374100000000"))
    assert receipt_from_pdu(pdu).message_id == "7A"


def test_an_empty_malformed_receipted_message_id_leaves_the_text_id() -> None:
    pdu = _receipt_pdu(b"id:7A stat:DELIVRD", bytes.fromhex("001e0003 000041"))
    assert receipt_from_pdu(pdu).message_id == "7A"


def test_the_text_of_a_receipt_drops_its_terminator_and_reads_other_nuls_as_spaces() -> None:
    pdu = _receipt_pdu(b"id:7A\x00stat:DELIVRD err:000\x00\x00")
    assert receipt_text(pdu) == "id:7A stat:DELIVRD err:000"
