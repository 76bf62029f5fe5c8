"""Values every database the gateway runs on can store: one rule for SQLite and PostgreSQL.

A value that one engine refuses fails the transaction that carries it, and a group commit
carries other callers' work too; so every value from outside is checked once, where it enters
(the accept service), against what BOTH engines take:

- text: no U+0000 (PostgreSQL refuses NUL in ``text``: "invalid byte sequence for encoding
  UTF8: 0x00"), no lone surrogate U+D800..U+DFFF (it has no UTF-8 form, so neither driver can
  send it), and at most the field's length;
- datetimes: timezone-aware, and once in UTC between :data:`EARLIEST` and :data:`LATEST`.
  Python's datetime ends at 9999-12-31, so ``9999-12-31T23:59-05:00`` cannot even be converted
  to UTC (SQLite stores UTC), and sums such as ``send_at + validity`` need room above;
- integers: within the column's type, 32 bits (``INTEGER`` on PostgreSQL) or 64 (``BIGINT``).

Text from a peer that cannot be refused (an SMSC's receipt) is made storable instead with
:func:`storable_text`. Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from mesiji.errors import MesijiError

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_REFERENCE",
    "UNSTORABLE",
    "UnstorableValue",
    "check_datetime",
    "check_integer",
    "check_text",
    "has_content",
    "storable_text",
    "why_unstorable",
]

#: The earliest and latest points in time a stored value may hold. Far inside what PostgreSQL
#: (4713 BC to 294276 AD), SQLite's text and Python (years 1 to 9999) hold, with centuries of
#: room for arithmetic on them.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

#: Characters of a client's ``reference``. It is indexed, and a PostgreSQL index entry holds at
#: most about 2.7 kB: a long, incompressible reference failed the insert.
MAX_REFERENCE = 100

_NUL = "\x00"
_REPLACEMENT = "\ufffd"
#: A NUL or an unpaired surrogate: what :func:`why_unstorable` looks for, for fast searches.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class UnstorableValue(MesijiError):  # noqa: N818 -- named like the storage errors it prevents
    """A value that a database would refuse; ``field`` names it, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def check_text(value: str, *, field: str, max_length: int | None = None) -> str:
    """``value`` unchanged if both engines store it; else raise :class:`UnstorableValue`."""
    if max_length is not None and len(value) > max_length:
        raise UnstorableValue(field, f"is longer than {max_length} characters")
    reason = why_unstorable(value)
    if reason is not None:
        raise UnstorableValue(field, reason)
    return value


def why_unstorable(value: str) -> str | None:
    """Why neither engine can store ``value`` (a NUL, a lone surrogate), or None."""
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == _NUL:
        return "contains a NUL character (U+0000)"
    return "contains an unpaired surrogate (U+D800..U+DFFF), which is not a character"


def storable_text(value: str, *, max_length: int) -> str:
    """``value`` made storable: trailing NULs dropped (a C string's terminator, as some SMSCs
    leave in), other NULs and lone surrogates replaced by U+FFFD, cut to ``max_length``."""
    value = value.rstrip(_NUL)[:max_length].replace(_NUL, _REPLACEMENT)
    if _has_surrogate(value):
        value = "".join(_REPLACEMENT if _is_surrogate(c) else c for c in value)
    return value


def has_content(text: str) -> bool:
    """Whether ``text`` has something to read: a printable character that is not a space nor
    U+FFFD (what a decoder puts for a byte that is not UTF-8). NULs, control and format
    characters, lone surrogates and invalid bytes alone are no content."""
    return any(c.isprintable() and not c.isspace() and c != _REPLACEMENT for c in text)


def check_datetime(value: datetime, *, field: str) -> datetime:
    """``value`` in UTC, if it is timezone-aware and between :data:`EARLIEST` and
    :data:`LATEST`; else raise :class:`UnstorableValue`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise UnstorableValue(field, "needs a timezone offset")
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:  # beyond year 1 or 9999 once in UTC
        raise UnstorableValue(field, _range()) from exc
    if not EARLIEST <= utc <= LATEST:
        raise UnstorableValue(field, _range())
    return utc


def check_integer(value: int, *, field: str, bits: int = 64) -> int:
    """``value`` if a signed integer column of ``bits`` bits holds it (32: ``INTEGER``,
    64: ``BIGINT``); else raise :class:`UnstorableValue`."""
    limit = 1 << (bits - 1)
    if not -limit <= value < limit:
        raise UnstorableValue(field, f"is outside the {bits}-bit integer range")
    return value


def _range() -> str:
    return f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"


def _is_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


def _has_surrogate(value: str) -> bool:
    # Only a str holding a surrogate fails a strict encode; the common case costs one pass in C.
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
