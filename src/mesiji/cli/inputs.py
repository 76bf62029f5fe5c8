"""What the command line takes: argparse types and checks that refuse bad input up front.

A command checks everything it was given before it writes anything, so a refused command
leaves the database as it found it. argparse types (:func:`record_id`, :func:`credits`, ...)
refuse malformed values with exit status 2 and the usage line; checks that need more than one
value, or the database, raise :class:`CommandError`, which ``mesiji`` prints as one line.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import unicodedata
from datetime import UTC, datetime

from mesiji.errors import MesijiError

__all__ = [
    "MAX_CREDITS",
    "CommandError",
    "credits",
    "plain_text",
    "price",
    "record_id",
    "seconds",
    "smsc_address",
    "timestamp",
]

#: The largest id a row can have: both engines store ids as signed 64-bit integers.
_MAX_ID = 2**63 - 1
#: The most credits one command moves: far above any real balance, far below an overflow.
MAX_CREDITS = 10**12
#: The highest price per segment (a 32-bit column on PostgreSQL).
_MAX_PRICE = 1_000_000
_DEFAULT_SMPP_PORT = 2775


class CommandError(MesijiError):
    """A command refused what it was given; nothing was written."""


def _ascii_int(text: str, what: str) -> int:
    # int() also reads other scripts' digits ("٤٢") and "1_000"; an id is plain ASCII digits.
    body = text.removeprefix("-")
    if not (body.isascii() and body.isdigit()) or len(body) > 19:
        raise argparse.ArgumentTypeError(f"{what} must be a whole number, not {text!r}")
    return int(text)


def record_id(text: str) -> int:
    """An account, key or message id: a positive integer (argparse type)."""
    value = _ascii_int(text, "an id")
    if not 1 <= value <= _MAX_ID:
        raise argparse.ArgumentTypeError(f"no such id: {text}")
    return value


def window(text: str) -> int:
    """An SMPP window: 1 to 100000 outstanding requests (argparse type)."""
    value = _ascii_int(text, "a window")
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{text}: a window is 1 to 100000 requests")
    return value


def credits(text: str) -> int:
    """A number of credits, possibly negative (argparse type)."""
    value = _ascii_int(text, "credits")
    if abs(value) > MAX_CREDITS:
        raise argparse.ArgumentTypeError(f"{text}: at most {MAX_CREDITS} credits at a time")
    return value


def price(text: str) -> int:
    """Credits per segment: zero or more (argparse type)."""
    value = _ascii_int(text, "a price")
    if not 0 <= value <= _MAX_PRICE:
        raise argparse.ArgumentTypeError(f"{text}: a price from 0 to {_MAX_PRICE} credits")
    return value


def timestamp(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is UTC (argparse type)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2026-12-05 or 2026-12-05T10:00+04:00"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range") from None


def smsc_address(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``[IPv6][:PORT]`` as (host, port); the port defaults to 2775."""
    host, colon, port = text, "", ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise argparse.ArgumentTypeError(f"{text!r}: write an IPv6 address as [::1]:2775")
        colon, port = rest[:1], rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not an IPv6 address") from None
    elif text.count(":") == 1:
        host, colon, port = text.partition(":")
    elif ":" in text:
        try:  # a bare IPv6 address: no room for a port
            return str(ipaddress.IPv6Address(text)), _DEFAULT_SMPP_PORT
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: write an IPv6 address as [::1]:2775"
            ) from None
    if not host:
        raise argparse.ArgumentTypeError(f"{text!r}: give a host, e.g. smsc.example.ge:2775")
    if not colon:
        return host, _DEFAULT_SMPP_PORT
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value


def plain_text(value: str, what: str, *, limit: int = 200, required: bool = False) -> str:
    """``value`` if it is text a database and a terminal can take; else CommandError.

    Refused: control characters (NUL among them: PostgreSQL stores no NUL), lone surrogates
    (bytes of the command line that were not UTF-8), and more than ``limit`` characters.
    """
    if required and not value.strip():
        raise CommandError(f"{what} is empty")
    if len(value) > limit:
        raise CommandError(f"{what} is longer than {limit} characters")
    for char in value:
        if unicodedata.category(char) in {"Cc", "Cs"}:
            raise CommandError(f"{what} contains the character {char!a}")
    return value
