"""Text for SMS: GSM 03.38, UCS-2 and Latin-1 encoding, segment counting, splitting, reassembly."""

from __future__ import annotations

from mesiji.text.alphabets import Alphabet, choose_alphabet, decode_text, encode_text
from mesiji.text.gsm7 import (
    decode_gsm7,
    encode_gsm7,
    gsm7_septets,
    pack_septets,
    unpack_septets,
)
from mesiji.text.reassembly import DroppedGroup, DropReason, Reassembler, concat_info_from
from mesiji.text.segments import (
    ConcatMethod,
    Part,
    SarInfo,
    SegmentCount,
    count_segments,
    split_text,
)
from mesiji.text.udh import (
    ConcatInfo,
    InformationElement,
    Udh,
    build_udh,
    concat_udh,
    parse_udh,
)

__all__ = [
    "Alphabet",
    "ConcatInfo",
    "ConcatMethod",
    "DropReason",
    "DroppedGroup",
    "InformationElement",
    "Part",
    "Reassembler",
    "SarInfo",
    "SegmentCount",
    "Udh",
    "build_udh",
    "choose_alphabet",
    "concat_info_from",
    "concat_udh",
    "count_segments",
    "decode_gsm7",
    "decode_text",
    "encode_gsm7",
    "encode_text",
    "gsm7_septets",
    "pack_septets",
    "parse_udh",
    "split_text",
    "unpack_septets",
]
