"""Values the HTTP layer refuses before they reach a service or the database.

Both APIs read text from the query string, the path, forms, JSON bodies and a few headers.
Three kinds of value pass Python's parsers but not the rest of the gateway:

- a NUL character (U+0000): PostgreSQL's ``text`` cannot hold it (SQLite can, so the engines
  would differ) and no SMS alphabet carries it;
- an unpaired surrogate (U+D800..U+DFFF): not a character at all, so it cannot be encoded as
  UTF-8 for the database, an SMSC or an answer that echoes it;
- a point in time without an offset, or one whose UTC value falls off the calendar
  (``9999-12-31T23:59-05:00``): its meaning depends on the machine, or it cannot be stored.

Each refusal is a :class:`~mesiji.services.errors.RequestError` whose message names the field
and never repeats the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from mesiji.domain.storable import MAX_REFERENCE, UNSTORABLE, why_unstorable
from mesiji.services.errors import ErrorCode, RequestError

__all__ = [
    "MAX_ID",
    "MAX_REFERENCE",
    "StrictBody",
    "check_texts",
    "message_id",
    "unstorable",
    "utc",
]

#: Ids are BIGINT on PostgreSQL and 64-bit integers on SQLite.
MAX_ID = 2**63 - 1
_ASCII_ID = re.compile(r"[0-9]{1,19}")


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored or answered (a NUL, a lone surrogate), or None."""
    return why_unstorable(value)


def check_texts(named: Iterable[tuple[str, str]]) -> None:
    """Refuse the first ``(name, value)`` whose value :func:`unstorable` refuses."""
    for name, value in named:
        reason = unstorable(name)
        if reason:
            raise RequestError(ErrorCode.invalid_request, f"a parameter name {reason}")
        reason = unstorable(value)
        if reason:
            raise RequestError(ErrorCode.invalid_request, f"{name} {reason}")


def utc(name: str, value: datetime, *, code: ErrorCode = ErrorCode.invalid_request) -> datetime:
    """``value`` in UTC; refused when it has no offset or its UTC time is off the calendar.

    Naive values are refused rather than read as UTC, as ``send_at`` always was: a client that
    forgot the offset most likely meant its local time.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise RequestError(
            code,
            f"{name} needs a timezone offset (e.g. 2026-01-31T09:00:00+04:00 or ...Z)",
        )
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise RequestError(code, f"{name} is outside the years 1 to 9999 in UTC") from exc


def message_id(raw: str) -> int | None:
    """The message id written as ASCII digits in ``raw``, or None when it cannot be one.

    ``str.isdigit`` and ``int`` also take other scripts' digits ("١٢٣" is 123) and
    superscripts; an id is only ever written in ASCII.
    """
    if not _ASCII_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


class StrictBody(BaseModel):
    """A JSON body: unknown fields refused, and no string anywhere :func:`unstorable`.

    The check walks the raw body once before the fields are validated, so no field (nor one
    added later) can let such a value through.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        found = _first_unstorable(data)
        if found is not None:
            where, reason = found
            field = ".".join(where) or "the body"
            raise PydanticCustomError("unstorable", f"{field} {reason}")
        return data


def _first_unstorable(data: Any) -> tuple[list[str], str] | None:
    """(path, reason) of the first unstorable string or key in ``data``, or None.

    Leaf strings are searched in place and the path is built only on the way back from a hit:
    a body of a thousand recipients takes about a millisecond, against tens of milliseconds to
    parse their numbers.
    """
    search = UNSTORABLE.search
    if isinstance(data, str):
        return ([], _why(data)) if search(data) else None
    items: Iterable[tuple[str, Any]]
    if isinstance(data, dict):
        for key in data:
            if search(str(key)):
                return ["a field name"], _why(str(key))
        items = ((str(key), value) for key, value in data.items())
    elif isinstance(data, list | tuple):
        items = ((str(i), value) for i, value in enumerate(data))
    else:
        return None
    for name, value in items:
        if isinstance(value, str):
            if search(value):
                return [name], _why(value)
        elif isinstance(value, dict | list | tuple):
            found = _first_unstorable(value)
            if found is not None:
                found[0].insert(0, name)
                return found
    return None


def _why(value: str) -> str:
    return unstorable(value) or ""
