"""Alphabet choice, encoding by alphabet, and decoding of incoming data_coding values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.errors import TextError
from mesiji.text import Alphabet, choose_alphabet, decode_text, encode_text
from mesiji.text.coding import DataCoding

GEORGIAN = "გამარჯობა"


def test_data_coding_values() -> None:
    assert Alphabet.gsm7.data_coding is DataCoding.smsc_default
    assert Alphabet.ucs2.data_coding is DataCoding.ucs2
    assert Alphabet.latin1.data_coding is DataCoding.latin1
    assert [int(a.data_coding) for a in Alphabet] == [0x00, 0x08, 0x03]


@pytest.mark.parametrize(
    ("text", "allow_latin1", "alphabet"),
    [
        (GEORGIAN, False, Alphabet.ucs2),
        (GEORGIAN, True, Alphabet.ucs2),
        ("Hello, world!", False, Alphabet.gsm7),
        ("Price: 5€ {promo} [x] ~ | \\ ^", False, Alphabet.gsm7),
        ("Hello ა", False, Alphabet.ucs2),  # one Georgian letter turns it all UCS-2
        ("Grüße, Ærø", False, Alphabet.gsm7),
        ("naïve ÿ", False, Alphabet.ucs2),
        ("naïve ÿ", True, Alphabet.latin1),
        ("Latin-1 does not have €: naïve", True, Alphabet.ucs2),
        ("🙂", True, Alphabet.ucs2),
        ("", False, Alphabet.gsm7),
    ],
)
def test_choose_alphabet(text: str, allow_latin1: bool, alphabet: Alphabet) -> None:
    assert choose_alphabet(text, allow_latin1=allow_latin1) is alphabet


@pytest.mark.parametrize(
    ("text", "alphabet", "encoded"),
    [
        (GEORGIAN, Alphabet.ucs2, bytes.fromhex("10D210D010DB10D010E010EF10DD10D110D0")),
        ("🙂", Alphabet.ucs2, bytes.fromhex("D83DDE42")),  # a surrogate pair: two code units
        ("a€", Alphabet.gsm7, b"a\x1b\x65"),
        ("naïve", Alphabet.latin1, b"na\xefve"),
    ],
)
def test_encode_text(text: str, alphabet: Alphabet, encoded: bytes) -> None:
    assert encode_text(text, alphabet) == encoded
    assert decode_text(encoded, alphabet.data_coding) == text


@pytest.mark.parametrize(
    ("text", "alphabet"),
    [
        (GEORGIAN, Alphabet.gsm7),
        (GEORGIAN, Alphabet.latin1),
        ("€", Alphabet.latin1),
        ("lone \ud800 surrogate", Alphabet.ucs2),
    ],
)
def test_encode_text_rejects(text: str, alphabet: Alphabet) -> None:
    with pytest.raises(TextError, match="U\\+"):
        encode_text(text, alphabet)


@pytest.mark.parametrize(
    ("data", "data_coding", "text"),
    [
        (b"\x00\x02\x11", 0x00, "@$_"),
        (b"Hi \x1b\x65", 0x00, "Hi €"),
        (b"plain", 0x01, "plain"),
        (b"bad \xff", 0x01, "bad \ufffd"),
        (b"caf\xe9", 0x03, "café"),
        (bytes.fromhex("10D010D1"), 0x08, "აბ"),
        (bytes.fromhex("10D010"), 0x08, "ა\ufffd"),  # odd length: the dangling octet replaced
        (bytes.fromhex("D83D0041"), 0x08, "\ufffdA"),  # lone high surrogate replaced
        (bytes.fromhex("DE42"), 0x08, "\ufffd"),  # lone low surrogate replaced
        (bytes.fromhex("D83DDE42"), 0x08, "🙂"),
        (b"\xc0\xd2", 0x06, "Рв"),  # ISO-8859-5
        (b"\xe0", 0x07, "א"),  # ISO-8859-8
        (b"\xe9", 0x05, "é"),  # JIS: not supported, best-effort Latin-1
        (b"\xe9", 0x0E, "é"),
        (bytes.fromhex("10D0"), 0x18, "ა"),  # 23.038 general group, UCS-2, class 0 ("flash")
        (b"\x00", 0x10, "@"),  # general group, GSM-7, class 0
        (b"\x00", 0xF0, "@"),  # data coding / message class group, GSM-7
        (bytes.fromhex("10D0"), 0xE0, "ა"),  # message waiting, UCS-2
        (b"\x00", 0xC8, "@"),  # message waiting, GSM-7
        (b"\xe9", 0x80, "é"),  # reserved group: best-effort Latin-1
    ],
)
def test_decode_text(data: bytes, data_coding: int, text: str) -> None:
    assert decode_text(data, data_coding) == text


@pytest.mark.parametrize("data_coding", [0x02, 0x04, 0x14, 0x24, 0xF4, -1, 0x100])
def test_decode_text_rejects_binary_compressed_and_invalid(data_coding: int) -> None:
    with pytest.raises(TextError):
        decode_text(b"\x01\x02", data_coding)


def test_unknown_alphabet_is_a_text_error() -> None:
    with pytest.raises(TextError):
        encode_text("x", "klingon")  # type: ignore[arg-type]


@given(st.binary(max_size=64), st.integers(0, 0xFF))
def test_decode_text_raises_only_text_error(data: bytes, data_coding: int) -> None:
    try:
        text = decode_text(data, data_coding)
    except TextError:
        return
    assert isinstance(text, str)


@given(st.text(max_size=100), st.booleans())
def test_chosen_alphabet_round_trips(text: str, allow_latin1: bool) -> None:
    alphabet = choose_alphabet(text, allow_latin1=allow_latin1)
    assert decode_text(encode_text(text, alphabet), alphabet.data_coding) == text
