"""Counting and splitting text into SMS segments.

One short message carries 140 octets of user data (3GPP TS 23.040 §9.2.3.16): 160 GSM-7
septets, 70 UCS-2 code units or 140 Latin-1 octets. Each part of a concatenated message gives
up room for its UDH: 6 octets with an 8-bit reference (153 / 67 / 134 left), 7 with a 16-bit
one (152 / 66 / 133), GSM-7 counting the UDH in septets with its fill bits.

Parts are cut greedily, but never inside a GSM-7 escape sequence or a UTF-16 surrogate pair:
a part then carries one unit less than its capacity, so every part decodes on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from mesiji.errors import TextError
from mesiji.text.alphabets import Alphabet, choose_alphabet, encode_text
from mesiji.text.gsm7 import ESCAPE
from mesiji.text.udh import concat_udh

__all__ = [
    "ConcatMethod",
    "Part",
    "SarInfo",
    "SegmentCount",
    "count_segments",
    "split_text",
]

#: The most parts a concatenation element can number (§9.2.3.24.1).
MAX_PARTS = 255
#: The message_payload TLV length is a 16-bit field (SMPP 3.4 §5.3.2.32).
MAX_PAYLOAD_OCTETS = 0xFFFF

# Units per part: (single part, with an 8-bit-reference UDH, with a 16-bit-reference UDH).
_CAPACITY = {
    Alphabet.gsm7: (160, 153, 152),
    Alphabet.ucs2: (70, 67, 66),
    Alphabet.latin1: (140, 134, 133),
}
# Octets per unit: a septet travels unpacked in one octet over SMPP; a UTF-16 code unit is two.
_UNIT_OCTETS = {Alphabet.gsm7: 1, Alphabet.ucs2: 2, Alphabet.latin1: 1}


class ConcatMethod(StrEnum):
    """How the parts of a long message are tied together."""

    #: UDH with an 8-bit reference in each short_message.
    udh8 = "udh8"
    #: UDH with a 16-bit reference in each short_message.
    udh16 = "udh16"
    #: sar_* TLVs, no UDH: the SMSC adds it, so capacities are those of udh8.
    sar = "sar"
    #: The whole message in one PDU's message_payload TLV; the SMSC splits it.
    payload = "payload"


@dataclass(frozen=True)
class SegmentCount:
    """How many segments a text takes and how full the last one is."""

    alphabet: Alphabet
    #: Septets (GSM-7), UTF-16 code units (UCS-2) or octets (Latin-1) of the whole text.
    units: int
    segments: int
    #: Capacity of each segment in units: the single-part one when ``segments`` is 1.
    per_segment: int
    #: Units still free in the last segment.
    remaining: int


@dataclass(frozen=True)
class SarInfo:
    """Values of the sar_msg_ref_num, sar_total_segments and sar_segment_seqnum TLVs."""

    msg_ref_num: int
    total_segments: int
    segment_seqnum: int


@dataclass(frozen=True)
class Part:
    """One submit_sm worth of a message."""

    #: The user data, UDH included for udh8/udh16; empty for the payload method.
    short_message: bytes
    data_coding: int
    #: Whether short_message starts with a UDH: set esm_class 0x40 (UDHI).
    udhi: bool
    sar: SarInfo | None
    #: The message_payload TLV value, for the payload method only.
    message_payload: bytes | None
    seqnum: int
    total: int


def _cuts(data: bytes, alphabet: Alphabet, capacity: int) -> Iterator[tuple[int, int]]:
    """(start, end) octet offsets of successive parts of encoded ``data``, greedily."""
    unit = _UNIT_OCTETS[alphabet]
    step = capacity * unit
    start = 0
    size = len(data)
    while start < size:
        end = min(start + step, size)
        if end < size:
            # A GSM-7 escape must stay with its code (3GPP TS 23.038 §6.2.1.1); our encoder
            # emits 0x1B only as an escape. A high surrogate must stay with its low one.
            if alphabet == Alphabet.gsm7 and data[end - 1] == ESCAPE:
                end -= 1
            elif alphabet == Alphabet.ucs2 and 0xD8 <= data[end - 2] <= 0xDB:
                end -= 2
        yield start, end
        start = end


def _encode(text: str, alphabet: Alphabet | None) -> tuple[Alphabet, bytes]:
    if alphabet is None:
        chosen = choose_alphabet(text)
    else:
        try:
            chosen = Alphabet(alphabet)
        except ValueError:
            raise TextError(f"unknown alphabet {alphabet!r}") from None
    return chosen, encode_text(text, chosen)


def count_segments(
    text: str, alphabet: Alphabet | None = None, *, udh16: bool = False
) -> SegmentCount:
    """Count the segments ``text`` takes, exactly as :func:`split_text` would cut it.

    ``alphabet`` defaults to :func:`choose_alphabet` (without Latin-1); ``udh16`` counts with
    16-bit-reference headers. Empty text is one segment. Raises TextError when ``text`` does not
    fit ``alphabet``.
    """
    chosen, data = _encode(text, alphabet)
    units = len(data) // _UNIT_OCTETS[chosen]
    single, multi8, multi16 = _CAPACITY[chosen]
    if units <= single:
        return SegmentCount(chosen, units, 1, single, single - units)
    capacity = multi16 if udh16 else multi8
    segments = 0
    last = 0
    for start, end in _cuts(data, chosen, capacity):
        segments += 1
        last = (end - start) // _UNIT_OCTETS[chosen]
    return SegmentCount(chosen, units, segments, capacity, capacity - last)


def split_text(
    text: str,
    *,
    alphabet: Alphabet | None = None,
    method: ConcatMethod = ConcatMethod.udh8,
    reference: int = 0,
) -> list[Part]:
    """Split ``text`` into the parts to submit, in order.

    ``alphabet`` defaults to :func:`choose_alphabet` (without Latin-1). Text that fits one
    short message gives one Part without UDH or SAR values; the payload method always gives one
    Part with the whole text in ``message_payload``. ``reference`` must fit 8 bits for udh8 and
    16 bits for udh16 and sar. Raises TextError when ``text`` does not fit ``alphabet``, a value
    is out of range, or more than 255 parts would be needed.
    """
    try:
        method = ConcatMethod(method)
    except ValueError:
        raise TextError(f"unknown concatenation method {method!r}") from None
    max_reference = 0xFF if method == ConcatMethod.udh8 else 0xFFFF
    if not 0 <= reference <= max_reference:
        raise TextError(
            f"reference {reference} does not fit 0..{max_reference} for the {method} method"
        )
    chosen, data = _encode(text, alphabet)
    data_coding = int(chosen.data_coding)
    if method == ConcatMethod.payload:
        if len(data) > MAX_PAYLOAD_OCTETS:
            raise TextError(f"message_payload holds at most 65535 octets, not {len(data)}")
        return [Part(b"", data_coding, False, None, data, 1, 1)]
    single, multi8, multi16 = _CAPACITY[chosen]
    if len(data) <= single * _UNIT_OCTETS[chosen]:
        return [Part(data, data_coding, False, None, None, 1, 1)]
    capacity = multi16 if method == ConcatMethod.udh16 else multi8
    if len(data) > MAX_PARTS * capacity * _UNIT_OCTETS[chosen]:
        raise TextError(f"the text needs over {MAX_PARTS} parts of {capacity} {chosen} units")
    chunks = [data[start:end] for start, end in _cuts(data, chosen, capacity)]
    total = len(chunks)
    if total > MAX_PARTS:
        raise TextError(f"the text needs {total} parts; a concatenated message has at most 255")
    parts: list[Part] = []
    for seqnum, chunk in enumerate(chunks, start=1):
        if method == ConcatMethod.sar:
            sar = SarInfo(reference, total, seqnum)
            parts.append(Part(chunk, data_coding, False, sar, None, seqnum, total))
        else:
            udh = concat_udh(reference, total, seqnum, ref16=method == ConcatMethod.udh16)
            parts.append(Part(udh + chunk, data_coding, True, None, None, seqnum, total))
    return parts
