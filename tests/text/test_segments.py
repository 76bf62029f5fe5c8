"""Segment counting and splitting: capacities, boundaries, escapes, surrogate pairs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.errors import TextError
from mesiji.text import (
    Alphabet,
    ConcatInfo,
    ConcatMethod,
    Part,
    SarInfo,
    count_segments,
    decode_text,
    encode_text,
    parse_udh,
    split_text,
)
from mesiji.text.gsm7 import DEFAULT_ALPHABET, ESCAPE, EXTENSION_TABLE

GEORGIAN_WORDS = "გამარჯობა საქართველო მშვიდობა ენა დედა მამა "
GEORGIAN_200 = (GEORGIAN_WORDS * 5)[:200]
UNIT_OCTETS = {Alphabet.gsm7: 1, Alphabet.ucs2: 2, Alphabet.latin1: 1}
CAPACITY = {  # single, 8-bit-reference UDH, 16-bit-reference UDH
    Alphabet.gsm7: (160, 153, 152),
    Alphabet.ucs2: (70, 67, 66),
    Alphabet.latin1: (140, 134, 133),
}


def payload_of(part: Part) -> bytes:
    """The encoded text a part carries, UDH stripped."""
    if part.message_payload is not None:
        return part.message_payload
    if part.udhi:
        return parse_udh(part.short_message)[1]
    return part.short_message


def units_of(part: Part, alphabet: Alphabet) -> int:
    return len(payload_of(part)) // UNIT_OCTETS[alphabet]


@dataclass(frozen=True)
class Case:
    text: str
    alphabet: Alphabet
    units: list[int]  # per part, UDH excluded
    method: ConcatMethod = ConcatMethod.udh8
    requested: Alphabet | None = None


CASES = {
    "georgian-word": Case("გამარჯობა", Alphabet.ucs2, [9]),
    "georgian-200": Case(GEORGIAN_200, Alphabet.ucs2, [67, 67, 66]),
    "latin-short": Case("Your code is 1234", Alphabet.gsm7, [17]),
    "gsm-160": Case("a" * 160, Alphabet.gsm7, [160]),
    "gsm-161": Case("a" * 161, Alphabet.gsm7, [153, 8]),
    "gsm-306": Case("a" * 306, Alphabet.gsm7, [153, 153]),
    "gsm-307": Case("a" * 307, Alphabet.gsm7, [153, 153, 1]),
    "euro-80": Case("€" * 80, Alphabet.gsm7, [160]),
    "euro-81": Case("€" * 81, Alphabet.gsm7, [152, 10]),
    "each-extension-char": Case("".join(EXTENSION_TABLE.values()) * 8, Alphabet.gsm7, [160]),
    "escape-at-153": Case("a" * 152 + "€" + "b" * 100, Alphabet.gsm7, [152, 102]),
    "escape-ends-at-153": Case("a" * 151 + "€" + "b" * 100, Alphabet.gsm7, [153, 100]),
    "ucs2-70": Case("ა" * 70, Alphabet.ucs2, [70]),
    "ucs2-71": Case("ა" * 71, Alphabet.ucs2, [67, 4]),
    "ucs2-134": Case("ა" * 134, Alphabet.ucs2, [67, 67]),
    "ucs2-135": Case("ა" * 135, Alphabet.ucs2, [67, 67, 1]),
    "emoji-35": Case("🙂" * 35, Alphabet.ucs2, [70]),
    "emoji-36": Case("🙂" * 36, Alphabet.ucs2, [66, 6]),
    "emoji-at-boundary": Case("ა" * 66 + "🙂" + "ა" * 10, Alphabet.ucs2, [66, 12]),
    "emoji-before-boundary": Case("ა" * 65 + "🙂" + "ა" * 10, Alphabet.ucs2, [67, 10]),
    "mixed-scripts": Case("Hello ა", Alphabet.ucs2, [7]),
    "latin1-140": Case("ÿ" * 140, Alphabet.latin1, [140], requested=Alphabet.latin1),
    "latin1-141": Case("ÿ" * 141, Alphabet.latin1, [134, 7], requested=Alphabet.latin1),
    "gsm-as-ucs2": Case("a" * 71, Alphabet.ucs2, [67, 4], requested=Alphabet.ucs2),
    "empty": Case("", Alphabet.gsm7, [0]),
    "udh16-gsm-304": Case("a" * 304, Alphabet.gsm7, [152, 152], ConcatMethod.udh16),
    "udh16-gsm-305": Case("a" * 305, Alphabet.gsm7, [152, 152, 1], ConcatMethod.udh16),
    "udh16-georgian-200": Case(GEORGIAN_200, Alphabet.ucs2, [66, 66, 66, 2], ConcatMethod.udh16),
    "udh16-latin1-266": Case(
        "ÿ" * 266, Alphabet.latin1, [133, 133], ConcatMethod.udh16, Alphabet.latin1
    ),
    "sar-gsm-161": Case("a" * 161, Alphabet.gsm7, [153, 8], ConcatMethod.sar),
    "sar-georgian-200": Case(GEORGIAN_200, Alphabet.ucs2, [67, 67, 66], ConcatMethod.sar),
    "payload-gsm-1000": Case("a" * 1000, Alphabet.gsm7, [1000], ConcatMethod.payload),
    "payload-georgian": Case(GEORGIAN_200, Alphabet.ucs2, [200], ConcatMethod.payload),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_split_cases(case: Case) -> None:
    parts = split_text(case.text, alphabet=case.requested, method=case.method, reference=7)
    assert [units_of(part, case.alphabet) for part in parts] == case.units
    assert all(part.data_coding == case.alphabet.data_coding for part in parts)
    assert [(part.seqnum, part.total) for part in parts] == [
        (n, len(parts)) for n in range(1, len(parts) + 1)
    ]
    joined = b"".join(payload_of(part) for part in parts)
    assert decode_text(joined, parts[0].data_coding) == case.text
    if case.method != ConcatMethod.payload:
        counted = count_segments(case.text, case.requested, udh16=case.method == ConcatMethod.udh16)
        assert counted.alphabet is case.alphabet
        assert counted.segments == len(parts)
        assert counted.units == sum(case.units)
        assert counted.remaining == counted.per_segment - case.units[-1]


def test_georgian_200_first_part_bytes() -> None:
    parts = split_text(GEORGIAN_200, reference=0x5A)
    first = parts[0]
    assert first.short_message[:6] == bytes.fromhex("0500035a0301")
    assert first.short_message[6:] == GEORGIAN_200[:67].encode("utf-16-be")
    assert len(first.short_message) == 140
    assert first.udhi
    assert first.sar is None
    assert first.message_payload is None
    assert parts[2].short_message[:6] == bytes.fromhex("0500035a0303")


def test_single_part_has_no_udh_and_no_sar() -> None:
    for method in (ConcatMethod.udh8, ConcatMethod.udh16, ConcatMethod.sar):
        (part,) = split_text("გამარჯობა", method=method, reference=300 % 256)
        assert part == Part("გამარჯობა".encode("utf-16-be"), 0x08, False, None, None, 1, 1)


def test_escape_never_split() -> None:
    first, second = split_text("a" * 152 + "€" + "b" * 100)
    assert first.short_message[-1] != ESCAPE
    assert payload_of(second)[:2] == b"\x1b\x65"


def test_surrogate_pair_moves_whole_to_next_part() -> None:
    first, second = split_text("ა" * 66 + "🙂" + "ა" * 10)
    assert payload_of(first) == ("ა" * 66).encode("utf-16-be")
    assert payload_of(second)[:4] == bytes.fromhex("D83DDE42")


def test_udh16_header_bytes() -> None:
    parts = split_text("a" * 305, method=ConcatMethod.udh16, reference=0xBEEF)
    assert [part.short_message[:7].hex() for part in parts] == [
        "060804beef0301",
        "060804beef0302",
        "060804beef0303",
    ]


def test_sar_values() -> None:
    parts = split_text(GEORGIAN_200, method=ConcatMethod.sar, reference=0x1234)
    assert [part.sar for part in parts] == [SarInfo(0x1234, 3, n) for n in (1, 2, 3)]
    assert not any(part.udhi for part in parts)
    assert parts[0].short_message == GEORGIAN_200[:67].encode("utf-16-be")


def test_payload_method() -> None:
    (part,) = split_text("x" * 500, method=ConcatMethod.payload, reference=0xFFFF)
    assert part.short_message == b""
    assert part.message_payload == b"x" * 500
    assert not part.udhi
    assert part.sar is None


@pytest.mark.parametrize(
    ("method", "reference"),
    [
        (ConcatMethod.udh8, 256),
        (ConcatMethod.udh8, -1),
        (ConcatMethod.udh16, 0x10000),
        (ConcatMethod.sar, 0x10000),
        (ConcatMethod.payload, 0x10000),
    ],
)
def test_reference_range(method: ConcatMethod, reference: int) -> None:
    with pytest.raises(TextError, match="reference"):
        split_text("a" * 200, method=method, reference=reference)


def test_reference_upper_bounds_accepted() -> None:
    assert len(split_text("a" * 200, method=ConcatMethod.udh8, reference=0xFF)) == 2
    assert len(split_text("a" * 200, method=ConcatMethod.udh16, reference=0xFFFF)) == 2
    assert len(split_text("a" * 200, method=ConcatMethod.sar, reference=0xFFFF)) == 2


def test_at_most_255_parts() -> None:
    assert len(split_text("a" * 153 * 255)) == 255
    with pytest.raises(TextError, match="255"):
        split_text("a" * (153 * 255 + 1))


def test_escapes_can_push_past_255_parts() -> None:
    # 39014 septets would fit 255 x 153, but 76 euro signs fill a part (152 septets): 257 parts.
    text = "€" * (153 * 255 // 2)
    assert count_segments(text).segments == 257
    with pytest.raises(TextError, match="257 parts"):
        split_text(text)


def test_payload_size_limit() -> None:
    assert split_text("ა" * 32767, method=ConcatMethod.payload)[0].message_payload is not None
    with pytest.raises(TextError, match="65535"):
        split_text("ა" * 32768, method=ConcatMethod.payload)


def test_text_that_does_not_fit_the_alphabet() -> None:
    with pytest.raises(TextError, match="U\\+10D2"):
        split_text("გამარჯობა", alphabet=Alphabet.gsm7)
    with pytest.raises(TextError):
        count_segments("გამარჯობა", Alphabet.latin1)


def test_lone_surrogate_is_a_text_error() -> None:
    with pytest.raises(TextError, match="U\\+DC00"):
        split_text("x\udc00")


def test_unknown_method_and_alphabet() -> None:
    with pytest.raises(TextError):
        split_text("x", method="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(TextError):
        split_text("x", alphabet="klingon")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "alphabet", "udh16", "expected"),
    [
        ("", None, False, (Alphabet.gsm7, 0, 1, 160, 160)),
        ("a" * 160, None, False, (Alphabet.gsm7, 160, 1, 160, 0)),
        ("a" * 161, None, False, (Alphabet.gsm7, 161, 2, 153, 145)),
        ("€" * 81, None, False, (Alphabet.gsm7, 162, 2, 153, 143)),
        (GEORGIAN_200, None, False, (Alphabet.ucs2, 200, 3, 67, 1)),
        (GEORGIAN_200, None, True, (Alphabet.ucs2, 200, 4, 66, 64)),
        ("🙂" * 36, None, False, (Alphabet.ucs2, 72, 2, 67, 61)),
        ("hello", Alphabet.ucs2, False, (Alphabet.ucs2, 5, 1, 70, 65)),
        ("ÿ" * 141, Alphabet.latin1, False, (Alphabet.latin1, 141, 2, 134, 127)),
        ("a" * 305, None, True, (Alphabet.gsm7, 305, 3, 152, 151)),
    ],
    ids=[
        "empty",
        "gsm-160",
        "gsm-161",
        "euro-81",
        "georgian-200",
        "georgian-200-udh16",
        "emoji-36",
        "gsm-as-ucs2",
        "latin1-141",
        "gsm-305-udh16",
    ],
)
def test_count_segments(
    text: str,
    alphabet: Alphabet | None,
    udh16: bool,
    expected: tuple[Alphabet, int, int, int, int],
) -> None:
    counted = count_segments(text, alphabet, udh16=udh16)
    got = (counted.alphabet, counted.units, counted.segments)
    assert (*got, counted.per_segment, counted.remaining) == expected


gsm_chars = [c for i, c in enumerate(DEFAULT_ALPHABET) if i != ESCAPE]
# Extension and astral characters are weighted up so part boundaries meet them often.
char_pools = [
    st.sampled_from(gsm_chars) | st.sampled_from(list(EXTENSION_TABLE.values())),
    st.sampled_from(GEORGIAN_WORDS) | st.sampled_from(["🙂", "𝄞", "€", "a"]),
    st.characters(max_codepoint=0xFF),
    st.characters(exclude_categories=["Cs"]),
]


def text_of_length(length: int) -> st.SearchStrategy[str]:
    return st.one_of(*(st.text(pool, min_size=length, max_size=length) for pool in char_pools))


# Drawing the length first spreads it over one to several parts; plain st.text() stays short.
texts = st.integers(0, 700).flatmap(text_of_length)


def check_parts(text: str, alphabet: Alphabet, method: ConcatMethod, reference: int) -> None:
    parts = split_text(text, alphabet=alphabet, method=method, reference=reference)
    total = len(parts)
    assert [part.seqnum for part in parts] == list(range(1, total + 1))
    assert all(part.total == total and part.data_coding == alphabet.data_coding for part in parts)
    payloads = [payload_of(part) for part in parts]
    # The whole text comes back, and so does each part on its own: nothing cut in two.
    assert decode_text(b"".join(payloads), alphabet.data_coding) == text
    assert "".join(decode_text(p, alphabet.data_coding) for p in payloads) == text
    if method == ConcatMethod.payload:
        assert total == 1
        assert parts[0].short_message == b""
        return
    counted = count_segments(text, alphabet, udh16=method == ConcatMethod.udh16)
    assert counted.segments == total
    single, multi8, multi16 = CAPACITY[alphabet]
    capacity = multi16 if method == ConcatMethod.udh16 else multi8
    if total == 1:
        assert not parts[0].udhi
        assert parts[0].sar is None
        assert units_of(parts[0], alphabet) <= single
        return
    for part in parts:
        units = units_of(part, alphabet)
        assert units <= capacity
        if part.seqnum < total:
            assert units >= capacity - 1
        if method == ConcatMethod.sar:
            assert part.sar == SarInfo(reference, total, part.seqnum)
            assert not part.udhi
        else:
            assert part.udhi
            assert parse_udh(part.short_message)[0].concat == ConcatInfo(
                reference, total, part.seqnum
            )
            # The part fits 140 octets on the air: a GSM-7 UDH counts in septets, fill included.
            udh_octets = len(part.short_message) - len(payload_of(part))
            if alphabet == Alphabet.gsm7:
                assert (udh_octets * 8 + 6) // 7 + units <= 160
            else:
                assert len(part.short_message) <= 140


@given(texts, st.sampled_from(ConcatMethod), st.data())
def test_split_round_trips_for_every_alphabet_and_method(
    text: str, method: ConcatMethod, data: st.DataObject
) -> None:
    max_reference = 0xFF if method == ConcatMethod.udh8 else 0xFFFF
    reference = data.draw(st.integers(0, max_reference))
    for alphabet in Alphabet:
        try:
            encode_text(text, alphabet)
        except TextError:
            continue
        check_parts(text, alphabet, method, reference)


@given(texts, st.booleans())
def test_count_matches_split_with_default_alphabet(text: str, udh16: bool) -> None:
    method = ConcatMethod.udh16 if udh16 else ConcatMethod.udh8
    counted = count_segments(text, udh16=udh16)
    parts = split_text(text, method=method)
    assert counted.segments == len(parts)
    assert parts[0].data_coding == counted.alphabet.data_coding
    assert 0 <= counted.remaining < counted.per_segment or counted.units == 0
