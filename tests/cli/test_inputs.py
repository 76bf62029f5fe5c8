"""What the command line takes: SMSC addresses, ids, credits, times and text."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from mesiji.cli.inputs import (
    CommandError,
    credits,
    plain_text,
    record_id,
    seconds,
    smsc_address,
    timestamp,
)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("smsc.example.ge", ("smsc.example.ge", 2775)),
        ("smsc.example.ge:2776", ("smsc.example.ge", 2776)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("[::1]:2775", ("::1", 2775)),
        ("[::1]", ("::1", 2775)),
        ("::1", ("::1", 2775)),
        ("2001:db8::1", ("2001:db8::1", 2775)),
    ],
)
def test_smsc_addresses(text: str, address: tuple[str, int]) -> None:
    assert smsc_address(text) == address


@pytest.mark.parametrize(
    "text",
    ["", ":2775", "host:", "host:x", "host:0", "host:65536", "host:٢٧", "[::1", "[::1]x",
     "[smsc]:2775", "a:b:c"],
)  # fmt: skip
def test_bad_smsc_addresses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        smsc_address(text)


def test_ids_are_positive_ascii_integers_that_fit_a_bigint() -> None:
    assert record_id("42") == 42
    assert record_id(str(2**63 - 1)) == 2**63 - 1
    for bad in ("0", "-1", "٤٢", "4_2", " 42", "1e3", str(2**63), "9" * 30):
        with pytest.raises(argparse.ArgumentTypeError):
            record_id(bad)


def test_credits_are_bounded_both_ways() -> None:
    assert credits("-50") == -50
    for bad in ("10000000000001", "-10000000000001", "five", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            credits(bad)


def test_times_without_an_offset_are_utc() -> None:
    assert timestamp("2026-12-05") == datetime(2026, 12, 5, tzinfo=UTC)
    assert timestamp("2026-12-05T14:00+04:00") == datetime(2026, 12, 5, 10, tzinfo=UTC)
    for bad in ("yesterday", "2026-13-01", "0001-01-01T00:00+01:00"):
        with pytest.raises(argparse.ArgumentTypeError):
            timestamp(bad)


def test_seconds() -> None:
    assert seconds("0.5") == 0.5
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(argparse.ArgumentTypeError):
            seconds(bad)


def test_text_a_database_and_a_terminal_can_take() -> None:
    assert plain_text("შპს მესიჯი", "--name") == "შპს მესიჯი"
    for bad in ("a\x00b", "a\nb", "\x1b[31m", "\udcff", "x" * 201):
        with pytest.raises(CommandError):
            plain_text(bad, "--name")
