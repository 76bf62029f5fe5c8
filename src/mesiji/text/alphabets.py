"""Which alphabet a text goes out in, and how incoming short messages are decoded.

Outgoing text uses one of three alphabets (:class:`Alphabet`). Incoming data_coding values are
read per SMPP 3.4 §5.2.19 for 0x00-0x0F and per the SMS Data Coding Scheme of
3GPP TS 23.038 §4 above that, since SMSCs pass the air-interface DCS through (0x18, UCS-2
"flash", is common).
"""

from __future__ import annotations

from enum import StrEnum

from mesiji.errors import TextError
from mesiji.text.coding import DataCoding
from mesiji.text.gsm7 import decode_gsm7, encode_gsm7, gsm7_septets

__all__ = ["Alphabet", "choose_alphabet", "decode_text", "encode_text"]


class Alphabet(StrEnum):
    """An alphabet Mesiji sends text in."""

    gsm7 = "gsm7"
    ucs2 = "ucs2"
    latin1 = "latin1"

    @property
    def data_coding(self) -> DataCoding:
        """The SMPP data_coding value announcing this alphabet."""
        return _DATA_CODING[self]


_DATA_CODING = {
    Alphabet.gsm7: DataCoding.smsc_default,
    Alphabet.ucs2: DataCoding.ucs2,
    Alphabet.latin1: DataCoding.latin1,
}


def _fits_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def choose_alphabet(text: str, *, allow_latin1: bool = False) -> Alphabet:
    """The most compact alphabet that carries ``text`` unchanged.

    GSM-7 if every character is in the default alphabet or its extension table, else Latin-1
    when allowed and sufficient (not every SMSC honours data_coding 0x03), else UCS-2.
    """
    if gsm7_septets(text) is not None:
        return Alphabet.gsm7
    if allow_latin1 and _fits_latin1(text):
        return Alphabet.latin1
    return Alphabet.ucs2


def encode_text(text: str, alphabet: Alphabet) -> bytes:
    """Encode ``text`` in ``alphabet``: unpacked GSM-7, UTF-16BE for UCS-2, or Latin-1.

    Characters outside the Basic Multilingual Plane become UTF-16 surrogate pairs, which
    handsets decode although strict UCS-2 has no such thing. Raises TextError when ``text``
    does not fit the alphabet (or holds a lone surrogate, which UTF-16 cannot carry).
    """
    if alphabet == Alphabet.gsm7:
        return encode_gsm7(text)
    if alphabet == Alphabet.ucs2:
        codec = "utf-16-be"
    elif alphabet == Alphabet.latin1:
        codec = "latin-1"
    else:
        raise TextError(f"unknown alphabet {alphabet!r}")
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise TextError(
            f"character {char!r} (U+{ord(char):04X}) at index {exc.start} "
            f"cannot be encoded in {alphabet}"
        ) from None


def _decode_dcs(data: bytes, dcs: int) -> str:
    # 3GPP TS 23.038 §4: the coding groups of the SMS Data Coding Scheme.
    group = dcs >> 4
    if group <= 0x7:
        # General data coding (0x00-0x3F) or automatic deletion (0x40-0x7F) groups.
        if dcs & 0x20:
            raise TextError(f"data_coding 0x{dcs:02X}: compressed text is not supported")
        charset = (dcs >> 2) & 0x03
    elif group in (0xC, 0xD):
        charset = 0  # message waiting indication, GSM-7
    elif group == 0xE:
        charset = 2  # message waiting indication, UCS-2
    elif group == 0xF:
        charset = (dcs >> 2) & 0x01  # data coding / message class: GSM-7 or 8-bit data
    else:
        charset = 3  # reserved groups 0x8-0xB
    if charset == 0:
        return decode_gsm7(data)
    if charset == 1:
        raise TextError(f"data_coding 0x{dcs:02X} announces 8-bit binary data, not text")
    if charset == 2:
        return data.decode("utf-16-be", errors="replace")
    return data.decode("latin-1")


def decode_text(data: bytes, data_coding: int) -> str:
    """Decode the text of an incoming message (without its User Data Header).

    - 0x00: unpacked GSM-7; 0x01: IA5 (ASCII); 0x03: Latin-1; 0x06: ISO-8859-5;
      0x07: ISO-8859-8; 0x08: UCS-2, read as UTF-16BE.
    - 0x02 and 0x04 (octet unspecified) are binary: TextError.
    - 0x10-0xFF follow the coding groups of 3GPP TS 23.038 §4 (GSM-7, UCS-2, or 8-bit data,
      which raises TextError; compressed text raises TextError too).
    - Anything else (JIS, KS C 5601, pictogram, reserved values) is read as Latin-1, best
      effort, so the octets at least survive.

    Malformed input is replaced, not rejected, so a subscriber's message still arrives: an
    undecodable IA5 octet, a lone UTF-16 surrogate, or the dangling octet of an odd-length
    UCS-2 payload each becomes U+FFFD. Only TextError is raised.
    """
    if not 0 <= data_coding <= 0xFF:
        raise TextError(f"data_coding must be one octet, not {data_coding}")
    if data_coding == DataCoding.smsc_default:
        return decode_gsm7(data)
    if data_coding == DataCoding.ia5:
        return data.decode("ascii", errors="replace")
    if data_coding in (DataCoding.octet_unspecified_2, DataCoding.octet_unspecified_4):
        raise TextError(f"data_coding 0x{data_coding:02X} announces binary data, not text")
    if data_coding == DataCoding.ucs2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == DataCoding.cyrillic:
        return data.decode("iso8859-5", errors="replace")
    if data_coding == DataCoding.latin_hebrew:
        return data.decode("iso8859-8", errors="replace")
    if data_coding >= 0x10:
        return _decode_dcs(data, data_coding)
    return data.decode("latin-1")
