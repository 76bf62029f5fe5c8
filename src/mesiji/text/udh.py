"""The User Data Header (3GPP TS 23.040 §9.2.3.24) and its concatenation elements.

A UDH is one length octet (UDHL) followed by information elements, each an identifier (IEI),
a length and that many octets. When esm_class has UDHI (0x40) set, short_message starts with
one. Mesiji builds the two concatenation elements and parses any UDH it receives.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesiji.errors import TextError

__all__ = [
    "IEI_CONCAT_8BIT",
    "IEI_CONCAT_16BIT",
    "ConcatInfo",
    "InformationElement",
    "Udh",
    "build_udh",
    "concat_udh",
    "parse_udh",
]

#: Concatenated short messages, 8-bit reference number (§9.2.3.24.1).
IEI_CONCAT_8BIT = 0x00
#: Concatenated short messages, 16-bit reference number (§9.2.3.24.8).
IEI_CONCAT_16BIT = 0x08


@dataclass(frozen=True)
class InformationElement:
    """One information element: its identifier and its data octets."""

    iei: int
    data: bytes


@dataclass(frozen=True)
class ConcatInfo:
    """Where a part belongs: message ``reference``, ``total`` parts, this part's ``seqnum``."""

    reference: int
    total: int
    seqnum: int


@dataclass(frozen=True)
class Udh:
    """A parsed User Data Header: every element in order, and the concatenation they state."""

    elements: tuple[InformationElement, ...]
    concat: ConcatInfo | None

    @property
    def length(self) -> int:
        """Octets the header occupies in short_message, UDHL included."""
        return 1 + sum(2 + len(element.data) for element in self.elements)


def build_udh(elements: tuple[InformationElement, ...] | list[InformationElement]) -> bytes:
    """Serialize information elements into a UDH, UDHL first. Raises TextError on overflow."""
    body = bytearray()
    for element in elements:
        if not 0 <= element.iei <= 0xFF or len(element.data) > 0xFF:
            raise TextError(f"information element {element!r} does not fit its octets")
        body.append(element.iei)
        body.append(len(element.data))
        body += element.data
    if len(body) > 0xFF:
        raise TextError(f"a UDH holds at most 255 octets of elements, not {len(body)}")
    return bytes([len(body)]) + body


def concat_udh(reference: int, total: int, seqnum: int, *, ref16: bool = False) -> bytes:
    """The UDH of one part of a concatenated message.

    8-bit reference: ``05 00 03 ref total seq`` (6 octets, §9.2.3.24.1); 16-bit reference:
    ``06 08 04 refhi reflo total seq`` (7 octets, §9.2.3.24.8). Raises TextError when a
    value does not fit or ``seqnum`` is not within 1..``total``.
    """
    max_reference = 0xFFFF if ref16 else 0xFF
    if not 0 <= reference <= max_reference:
        raise TextError(f"concatenation reference {reference} does not fit 0..{max_reference}")
    if not 1 <= total <= 0xFF:
        raise TextError(f"a concatenated message has 1 to 255 parts, not {total}")
    if not 1 <= seqnum <= total:
        raise TextError(f"part number {seqnum} is not within 1..{total}")
    if ref16:
        return bytes([6, IEI_CONCAT_16BIT, 4, reference >> 8, reference & 0xFF, total, seqnum])
    return bytes([5, IEI_CONCAT_8BIT, 3, reference, total, seqnum])


def _concat_from(element: InformationElement) -> ConcatInfo | None:
    # §9.2.3.24.1: a zero total, or a sequence number of zero or above the total, means the
    # receiver ignores the whole element; a wrong length makes it unreadable the same way.
    data = element.data
    if element.iei == IEI_CONCAT_8BIT and len(data) == 3:
        reference, total, seqnum = data[0], data[1], data[2]
    elif element.iei == IEI_CONCAT_16BIT and len(data) == 4:
        reference, total, seqnum = (data[0] << 8) | data[1], data[2], data[3]
    else:
        return None
    if total == 0 or not 1 <= seqnum <= total:
        return None
    return ConcatInfo(reference, total, seqnum)


def parse_udh(short_message: bytes) -> tuple[Udh, bytes]:
    """Split a short_message that starts with a UDH into the parsed header and the payload.

    Unknown elements are kept in ``elements`` and otherwise skipped (§9.2.3.24). If several
    concatenation elements appear, the last valid one counts, as the spec says of repeated
    elements. Raises TextError when the header is missing or its lengths run past its end.
    """
    if not short_message:
        raise TextError("UDHI is set but short_message is empty: no UDH length octet")
    udhl = short_message[0]
    end = 1 + udhl
    if end > len(short_message):
        raise TextError(f"UDH length {udhl} runs past the {len(short_message)}-octet message")
    elements: list[InformationElement] = []
    concat: ConcatInfo | None = None
    offset = 1
    while offset < end:
        if offset + 2 > end:
            raise TextError(f"UDH element header at offset {offset} is cut off by the UDH end")
        iei, length = short_message[offset], short_message[offset + 1]
        data_end = offset + 2 + length
        if data_end > end:
            raise TextError(f"UDH element 0x{iei:02X} at offset {offset} runs past the UDH end")
        element = InformationElement(iei, bytes(short_message[offset + 2 : data_end]))
        elements.append(element)
        concat = _concat_from(element) or concat
        offset = data_end
    return Udh(tuple(elements), concat), bytes(short_message[end:])
