"""GSM 03.38 default alphabet, extension table, unpacked codec and septet packing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.errors import TextError
from mesiji.text.gsm7 import (
    DEFAULT_ALPHABET,
    ESCAPE,
    EXTENSION_TABLE,
    decode_gsm7,
    encode_gsm7,
    gsm7_septets,
    pack_septets,
    unpack_septets,
)

# 3GPP TS 23.038 §6.2.1, written as code points so it checks the module's table independently.
# Septets 0x20-0x7F are ASCII except where listed; 0x1B is the escape.
_LOW_CODEPOINTS = [
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC,
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5,
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8,
    0x03A3, 0x0398, 0x039E, None, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
]  # fmt: skip
_NON_ASCII_HIGH = {
    0x24: 0x00A4, 0x40: 0x00A1, 0x5B: 0x00C4, 0x5C: 0x00D6, 0x5D: 0x00D1, 0x5E: 0x00DC,
    0x5F: 0x00A7, 0x60: 0x00BF, 0x7B: 0x00E4, 0x7C: 0x00F6, 0x7D: 0x00F1, 0x7E: 0x00FC,
    0x7F: 0x00E0,
}  # fmt: skip
SPEC_TABLE = {
    septet: codepoint for septet, codepoint in enumerate(_LOW_CODEPOINTS) if codepoint is not None
} | {septet: _NON_ASCII_HIGH.get(septet, septet) for septet in range(0x20, 0x80)}
SPEC_EXTENSION = {
    0x0A: 0x000C, 0x14: 0x005E, 0x28: 0x007B, 0x29: 0x007D, 0x2F: 0x005C,
    0x3C: 0x005B, 0x3D: 0x007E, 0x3E: 0x005D, 0x40: 0x007C, 0x65: 0x20AC,
}  # fmt: skip

GSM_CHARS = sorted(chr(cp) for cp in (*SPEC_TABLE.values(), *SPEC_EXTENSION.values()))
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=400)
septets = st.binary(max_size=400).map(lambda b: bytes(octet & 0x7F for octet in b))


def test_default_table_matches_the_spec() -> None:
    assert len(DEFAULT_ALPHABET) == 128
    for septet, codepoint in SPEC_TABLE.items():
        assert DEFAULT_ALPHABET[septet] == chr(codepoint), hex(septet)
        assert encode_gsm7(chr(codepoint)) == bytes([septet])
        assert decode_gsm7(bytes([septet])) == chr(codepoint)


def test_extension_table_matches_the_spec() -> None:
    assert {code: ord(char) for code, char in EXTENSION_TABLE.items()} == SPEC_EXTENSION
    for code, codepoint in SPEC_EXTENSION.items():
        assert encode_gsm7(chr(codepoint)) == bytes([ESCAPE, code])
        assert decode_gsm7(bytes([ESCAPE, code])) == chr(codepoint)
        assert gsm7_septets(chr(codepoint)) == 2


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("@", b"\x00"),
        ("$", b"\x02"),
        ("_", b"\x11"),
        ("¤", b"\x24"),
        ("ΔΦΓΛΩΠΨΣΘΞ", bytes(range(0x10, 0x1B)).replace(b"\x11", b"")),
        ("a€b", b"a\x1b\x65b"),
        ("{x}", b"\x1b\x28x\x1b\x29"),
        ("", b""),
    ],
)
def test_encode_known_values(text: str, encoded: bytes) -> None:
    assert encode_gsm7(text) == encoded
    assert gsm7_septets(text) == len(encoded)


@pytest.mark.parametrize(
    ("text", "char"),
    [
        ("გამარჯობა", "U+10D2"),
        ("ok `tick`", "U+0060"),
        ("tab\there", "U+0009"),
        ("ç is not Ç", "U+00E7"),
        ("escape \x1b itself", "U+001B"),
        ("smile 🙂", "U+1F642"),
    ],
)
def test_unencodable_characters(text: str, char: str) -> None:
    assert gsm7_septets(text) is None
    with pytest.raises(TextError, match=char.replace("+", r"\+")):
        encode_gsm7(text)


def test_error_names_the_position() -> None:
    with pytest.raises(TextError, match="index 3"):
        encode_gsm7("abcა")


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\x1b\x41", "A"),  # unknown extension code: the default-table character
        (b"x\x1b", "x "),  # dangling escape
        (b"\x1b\x1bz", " z"),  # escape to a further table, not defined: a space
        (b"\x1b\x65\x1b\x3c", "€["),
    ],
)
def test_decode_tolerates_odd_escapes(data: bytes, text: str) -> None:
    assert decode_gsm7(data) == text


def test_decode_rejects_octets_above_0x7f() -> None:
    with pytest.raises(TextError, match="0x80 at offset 1"):
        decode_gsm7(b"a\x80")


def test_hellohello_packs_to_the_classic_vector() -> None:
    packed = pack_septets(encode_gsm7("hellohello"))
    assert packed.hex() == "e8329bfd4697d9ec37"
    assert decode_gsm7(unpack_septets(packed, 10)) == "hellohello"


@pytest.mark.parametrize(("count", "octets"), [(0, 0), (1, 1), (7, 7), (8, 7), (9, 8), (160, 140)])
def test_packed_length(count: int, octets: int) -> None:
    assert len(pack_septets(b"\x7f" * count)) == octets


def test_fill_bits_come_first() -> None:
    assert pack_septets(b"A", fill_bits=1) == b"\x82"
    # After a 6-octet UDH one fill bit aligns the text on septet 7 (3GPP TS 23.040 §9.2.3.24).
    assert unpack_septets(b"\x82", 1, fill_bits=1) == b"A"


@pytest.mark.parametrize("fill_bits", [-1, 7])
def test_fill_bits_range(fill_bits: int) -> None:
    with pytest.raises(TextError):
        pack_septets(b"a", fill_bits)
    with pytest.raises(TextError):
        unpack_septets(b"a", 1, fill_bits)


def test_pack_rejects_non_septets() -> None:
    with pytest.raises(TextError):
        pack_septets(b"\x80")


def test_unpack_rejects_short_data_and_negative_count() -> None:
    with pytest.raises(TextError, match="need 8 octets"):
        unpack_septets(b"\x00" * 7, 9)
    with pytest.raises(TextError):
        unpack_septets(b"", -1)


@given(gsm_text)
def test_encode_decode_round_trip(text: str) -> None:
    encoded = encode_gsm7(text)
    assert decode_gsm7(encoded) == text
    assert gsm7_septets(text) == len(encoded)


@given(septets, st.integers(0, 6))
def test_pack_unpack_round_trip(data: bytes, fill_bits: int) -> None:
    packed = pack_septets(data, fill_bits)
    expected = (fill_bits + 7 * len(data) + 7) // 8 if data else 0
    assert len(packed) == expected
    assert unpack_septets(packed, len(data), fill_bits) == data


@given(st.text(max_size=50))
def test_any_text_encodes_or_raises_text_error(text: str) -> None:
    septet_count = gsm7_septets(text)
    if septet_count is None:
        with pytest.raises(TextError):
            encode_gsm7(text)
    else:
        assert len(encode_gsm7(text)) == septet_count


@given(septets)
def test_any_septets_decode(data: bytes) -> None:
    assert isinstance(decode_gsm7(data), str)
