"""The data_coding values that name how a short message's octets are encoded.

The value is the SMS Data Coding Scheme of GSM 03.38 / 3GPP TS 23.038 §4, which SMPP carries
as data_coding (SMPP 3.4 §5.2.19). It lives with the text, not with the SMPP codec, so that
``mesiji.text`` needs nothing from ``mesiji.smpp`` (tests/test_layers.py checks it).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["DataCoding"]


class DataCoding(IntEnum):
    """data_coding values Mesiji sends or understands (SMPP 3.4 §5.2.19)."""

    smsc_default = 0x00  # GSM 03.38 default alphabet on practically every GSM SMSC
    ia5 = 0x01
    octet_unspecified_2 = 0x02
    latin1 = 0x03
    octet_unspecified_4 = 0x04
    jis = 0x05
    cyrillic = 0x06
    latin_hebrew = 0x07
    ucs2 = 0x08
    pictogram = 0x09
    music_codes = 0x0A
    extended_kanji = 0x0D
    ks_c_5601 = 0x0E
