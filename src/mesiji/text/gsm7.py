"""The GSM 03.38 (3GPP TS 23.038 §6.2.1) default alphabet and its extension table.

Two forms of GSM-7 data exist. SMPP carries it *unpacked*, one septet per octet, when
data_coding is 0x00: :func:`encode_gsm7` and :func:`decode_gsm7` work on that form. The radio
interface packs septets into octets (§6.1.2.1.1): :func:`pack_septets` and
:func:`unpack_septets` convert between the two.

Encoding is strict and one-to-one: only the characters of the two tables are encodable (no
transliteration, no folding of ``ç`` onto ``Ç``), so whatever encodes decodes back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mesiji.errors import TextError

__all__ = [
    "DEFAULT_ALPHABET",
    "ESCAPE",
    "EXTENSION_TABLE",
    "decode_gsm7",
    "encode_gsm7",
    "gsm7_septets",
    "pack_septets",
    "unpack_septets",
]

#: The escape septet: the next septet is read from the extension table (§6.2.1.1).
ESCAPE = 0x1B

#: The default alphabet, indexed by septet. Position 0x1B is the escape, not a character.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

#: The extension table (§6.2.1.1): code after an escape -> character. Two septets each.
EXTENSION_TABLE: Mapping[int, str] = MappingProxyType(
    {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x65: "€",
    }
)


class _NotGsm7Error(Exception):
    """Raised out of ``str.translate`` on the first character outside both tables."""

    def __init__(self, codepoint: int) -> None:
        super().__init__(codepoint)
        self.codepoint = codepoint


class _EncodeTable(dict[int, str]):
    """Code point -> unpacked septets as a str of code points < 0x80, for ``str.translate``.

    A miss raises :class:`_NotGsm7Error`; being no ``LookupError``, it stops the translation
    instead of letting the character through unchanged.
    """

    def __missing__(self, key: int) -> str:
        raise _NotGsm7Error(key)


def _build_encode_table() -> _EncodeTable:
    table = _EncodeTable()
    for septet, char in enumerate(DEFAULT_ALPHABET):
        if septet != ESCAPE:
            table[ord(char)] = chr(septet)
    for code, char in EXTENSION_TABLE.items():
        table[ord(char)] = chr(ESCAPE) + chr(code)
    return table


_ENCODE = _build_encode_table()
_ENCODABLE = frozenset(map(chr, _ENCODE))
_EXTENSION_CHARS = tuple(EXTENSION_TABLE.values())

# Septet (as the code point its octet decodes to in ASCII) -> character, for escape-free data.
_DECODE = {septet: char for septet, char in enumerate(DEFAULT_ALPHABET) if septet != ESCAPE}


def gsm7_septets(text: str) -> int | None:
    """Septets needed for ``text`` (extension characters count two), or None if not encodable."""
    if not _ENCODABLE.issuperset(text):
        return None
    return len(text) + sum(map(text.count, _EXTENSION_CHARS))


def encode_gsm7(text: str) -> bytes:
    """Encode ``text`` as unpacked GSM-7 septets, one per octet (SMPP data_coding 0x00).

    Raises TextError naming the first character that neither table holds.
    """
    try:
        return text.translate(_ENCODE).encode("ascii")
    except _NotGsm7Error as exc:
        char = chr(exc.codepoint)
        raise TextError(
            f"character {char!r} (U+{exc.codepoint:04X}) at index {text.index(char)} "
            "is not in the GSM 03.38 default alphabet or its extension table"
        ) from None


def decode_gsm7(data: bytes) -> str:
    """Decode unpacked GSM-7 septets (one per octet) to text.

    Following 3GPP TS 23.038 §6.2.1.1: an escape followed by a code the extension table does not
    define decodes as that code's default-table character; escape + escape (reserved for a
    further table) and a dangling escape at the end both decode as a space. Octets above 0x7F
    cannot be septets and raise TextError.
    """
    if not data.isascii():
        offset = next(i for i, octet in enumerate(data) if octet > 0x7F)
        raise TextError(f"octet 0x{data[offset]:02X} at offset {offset} is not a GSM-7 septet")
    if ESCAPE not in data:
        return data.decode("ascii").translate(_DECODE)
    chars: list[str] = []
    escaped = False
    for septet in data:
        if escaped:
            escaped = False
            if septet == ESCAPE:
                chars.append(" ")
            else:
                chars.append(EXTENSION_TABLE.get(septet) or DEFAULT_ALPHABET[septet])
        elif septet == ESCAPE:
            escaped = True
        else:
            chars.append(DEFAULT_ALPHABET[septet])
    if escaped:
        chars.append(" ")
    return "".join(chars)


def _check_fill_bits(fill_bits: int) -> None:
    # Fill bits align septets after a UDH on a septet boundary (3GPP TS 23.040 §9.2.3.24),
    # so there are never more than six.
    if not 0 <= fill_bits <= 6:
        raise TextError(f"fill_bits must be between 0 and 6, not {fill_bits}")


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack unpacked septets into octets, least significant bit first (§6.1.2.1.1).

    ``fill_bits`` zero bits come first, as after a User Data Header. The result has
    ``ceil((fill_bits + 7 * len(septets)) / 8)`` octets (none for no septets); when the last
    octet has seven spare bits they stay zero: the SMS length is counted in septets, so the
    CR padding of §6.1.2.3.1 (for USSD) is not applied.
    """
    _check_fill_bits(fill_bits)
    if not septets:
        return b""
    if not septets.isascii():
        raise TextError("septets must be below 0x80")
    out = bytearray()
    acc = 0
    nbits = fill_bits
    for septet in septets:
        acc |= septet << nbits
        nbits += 7
        if nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Read ``count`` septets from packed ``data`` after ``fill_bits`` leading bits (§6.1.2.1.1).

    Raises TextError if ``data`` is too short to hold them.
    """
    _check_fill_bits(fill_bits)
    if count < 0:
        raise TextError(f"septet count must not be negative, not {count}")
    needed = (fill_bits + 7 * count + 7) // 8 if count else 0
    if len(data) < needed:
        raise TextError(f"{count} septets need {needed} octets, got {len(data)}")
    out = bytearray()
    acc = 0
    nbits = -fill_bits
    for octet in data[:needed]:
        acc |= octet << nbits if nbits >= 0 else octet >> -nbits
        nbits += 8
        while nbits >= 7 and len(out) < count:
            out.append(acc & 0x7F)
            acc >>= 7
            nbits -= 7
    return bytes(out)
