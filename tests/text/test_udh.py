"""User Data Header building and parsing (3GPP TS 23.040 §9.2.3.24)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.errors import TextError
from mesiji.text import ConcatInfo, InformationElement, build_udh, concat_udh, parse_udh


def test_concat_udh_8bit_reference() -> None:
    assert concat_udh(0x2A, 3, 1).hex() == "0500032a0301"


def test_concat_udh_16bit_reference() -> None:
    assert concat_udh(0x1234, 3, 2, ref16=True).hex() == "060804123403" + "02"


@pytest.mark.parametrize(
    ("reference", "total", "seqnum", "ref16"),
    [
        (256, 2, 1, False),
        (-1, 2, 1, False),
        (65536, 2, 1, True),
        (1, 0, 1, False),
        (1, 256, 1, False),
        (1, 3, 0, False),
        (1, 3, 4, True),
    ],
)
def test_concat_udh_rejects_out_of_range(
    reference: int, total: int, seqnum: int, ref16: bool
) -> None:
    with pytest.raises(TextError):
        concat_udh(reference, total, seqnum, ref16=ref16)


@pytest.mark.parametrize(
    ("short_message", "concat", "payload"),
    [
        (bytes.fromhex("0500032a0302") + b"abc", ConcatInfo(0x2A, 3, 2), b"abc"),
        (bytes.fromhex("06080412340201") + b"xyz", ConcatInfo(0x1234, 2, 1), b"xyz"),
        (b"\x00rest", None, b"rest"),  # an empty UDH is valid
        (bytes.fromhex("0500032a0300") + b"p", None, b"p"),  # seqnum 0: IE ignored
        (bytes.fromhex("0500032a0304") + b"p", None, b"p"),  # seqnum > total: IE ignored
        (bytes.fromhex("0500032a0000") + b"p", None, b"p"),  # total 0: IE ignored
        (bytes.fromhex("0400022a03") + b"p", None, b"p"),  # wrong IE length: ignored
        # An unknown IE (0x24, national language single shift) is kept and skipped over.
        (bytes.fromhex("08240101") + bytes.fromhex("0003070201") + b"p", ConcatInfo(7, 2, 1), b"p"),
        # Repeated concatenation elements: the last valid one counts.
        (bytes.fromhex("0a000301020100030902ff") + b"p", ConcatInfo(1, 2, 1), b"p"),
        (bytes.fromhex("0a00030102010003090202"), ConcatInfo(9, 2, 2), b""),
    ],
)
def test_parse_udh(short_message: bytes, concat: ConcatInfo | None, payload: bytes) -> None:
    udh, rest = parse_udh(short_message)
    assert udh.concat == concat
    assert rest == payload
    assert udh.length == short_message[0] + 1


def test_parse_udh_keeps_every_element() -> None:
    udh, _ = parse_udh(bytes.fromhex("0b2401010003070201080100") + b"p")
    assert udh.elements == (
        InformationElement(0x24, b"\x01"),
        InformationElement(0x00, b"\x07\x02\x01"),
        InformationElement(0x08, b"\x00"),
    )


@pytest.mark.parametrize(
    ("short_message", "message"),
    [
        (b"", "empty"),
        (bytes.fromhex("05000301"), "runs past"),  # UDHL larger than the message
        (bytes.fromhex("0300050102"), "runs past the UDH end"),  # IE data past UDHL
        (bytes.fromhex("0100"), "cut off"),  # IE header cut by UDHL
    ],
)
def test_parse_udh_rejects_malformed(short_message: bytes, message: str) -> None:
    with pytest.raises(TextError, match=message):
        parse_udh(short_message)


def test_build_udh_rejects_oversized() -> None:
    with pytest.raises(TextError):
        build_udh([InformationElement(0x70, bytes(256))])
    with pytest.raises(TextError):
        build_udh([InformationElement(0x70, bytes(200)), InformationElement(0x71, bytes(60))])


elements = st.lists(
    st.builds(InformationElement, st.integers(0, 0xFF), st.binary(max_size=20)), max_size=8
)


@given(elements, st.binary(max_size=50))
def test_build_parse_round_trip(ies: list[InformationElement], payload: bytes) -> None:
    udh, rest = parse_udh(build_udh(ies) + payload)
    assert udh.elements == tuple(ies)
    assert rest == payload


@given(st.integers(0, 0xFFFF), st.integers(1, 255), st.data(), st.booleans())
def test_concat_round_trip(reference: int, total: int, data: st.DataObject, ref16: bool) -> None:
    seqnum = data.draw(st.integers(1, total))
    reference = reference if ref16 else reference & 0xFF
    header = concat_udh(reference, total, seqnum, ref16=ref16)
    assert len(header) == (7 if ref16 else 6)
    udh, rest = parse_udh(header + b"text")
    assert udh.concat == ConcatInfo(reference, total, seqnum)
    assert rest == b"text"


@given(st.binary(max_size=40))
def test_parse_udh_raises_only_text_error(data: bytes) -> None:
    try:
        udh, rest = parse_udh(data)
    except TextError:
        return
    assert udh.length + len(rest) == len(data)
