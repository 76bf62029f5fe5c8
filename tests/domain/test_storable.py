"""Values both engines store: text, datetimes and integers, checked or made storable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mesiji.domain.storable import (
    EARLIEST,
    LATEST,
    UnstorableValue,
    check_datetime,
    check_integer,
    check_text,
    has_content,
    storable_text,
)


@pytest.mark.parametrize("value", ["", "hello", "გამარჯობა", "😀 ok", "\x01\x1b\u200b", "a" * 10])
def test_text_both_engines_store_is_returned_unchanged(value: str) -> None:
    assert check_text(value, field="text", max_length=10) is value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "contains a NUL character"),
        ("\x00", "contains a NUL character"),
        ("a\ud800", "contains an unpaired surrogate"),
        ("\udfff", "contains an unpaired surrogate"),
        ("ა\udc80", "contains an unpaired surrogate"),
        ("a" * 11, "is longer than 10 characters"),
    ],
)
def test_text_an_engine_refuses_is_refused(value: str, reason: str) -> None:
    with pytest.raises(UnstorableValue) as raised:
        check_text(value, field="reference", max_length=10)
    assert raised.value.field == "reference"
    assert str(raised.value).startswith(f"reference {reason}")


def test_a_surrogate_pair_written_as_one_character_is_text() -> None:
    assert check_text("\U0001f600", field="text") == "😀"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("id:1 stat:DELIVRD\x00", "id:1 stat:DELIVRD"),  # a C string's terminator
        ("id:1\x00\x00\x00", "id:1"),
        ("a\x00b", "a\ufffdb"),
        ("a\ud800b\udfff", "a\ufffdb\ufffd"),
        ("x" * 30, "x" * 20),
        ("", ""),
    ],
)
def test_storable_text_drops_terminators_and_replaces_the_rest(value: str, stored: str) -> None:
    assert storable_text(value, max_length=20) == stored
    check_text(stored, field="raw")


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("hi", True),
        ("  .  ", True),
        ("ა", True),
        ("😀", True),
        ("", False),
        (" \t\r\n", False),
        ("\x00\x00", False),
        ("\ufffd\ufffd", False),  # what a decoder makes of bytes that are not UTF-8
        ("\x01\x02\x1b", False),
        ("\u200b\u2060\ufeff", False),  # zero-width and format characters
        ("\ud800", False),
        ("\x00a", True),
    ],
)
def test_content_is_something_to_read(text: str, content: bool) -> None:
    assert has_content(text) is content


@pytest.mark.parametrize(
    "value",
    [
        datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=4))),
        EARLIEST,
        LATEST,
        datetime(8999, 6, 1, 23, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
    ],
)
def test_datetimes_in_range_come_back_in_utc(value: datetime) -> None:
    checked = check_datetime(value, field="send_at")
    assert checked == value
    assert checked.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (datetime(2030, 1, 1), "needs a timezone offset"),  # noqa: DTZ001 -- naive on purpose
        (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=5))), "must lie"),
        (datetime(9999, 12, 31, tzinfo=timezone(timedelta(hours=14))), "must lie"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), "must lie"),
        (datetime(1, 1, 1, tzinfo=timezone(-timedelta(hours=14))), "must lie"),
        (LATEST + timedelta(microseconds=1), "must lie"),
        (EARLIEST - timedelta(microseconds=1), "must lie"),
        (datetime.max.replace(tzinfo=UTC), "must lie"),
    ],
)
def test_datetimes_an_engine_or_python_cannot_hold_are_refused(
    value: datetime, reason: str
) -> None:
    with pytest.raises(UnstorableValue, match=f"^send_at {reason}"):
        check_datetime(value, field="send_at")


def test_integers_must_fit_their_column() -> None:
    assert check_integer(2**31 - 1, field="credits", bits=32) == 2**31 - 1
    assert check_integer(-(2**63), field="balance") == -(2**63)
    for value, bits in ((2**31, 32), (-(2**31) - 1, 32), (2**63, 64), (-(2**63) - 1, 64)):
        with pytest.raises(UnstorableValue, match=f"outside the {bits}-bit integer range"):
            check_integer(value, field="credits", bits=bits)
