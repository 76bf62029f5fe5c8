"""Destination numbers: what clients send, parsed into E.164 mobile numbers.

Clients write Georgian numbers every way: ``995599123456`` (smsoffice.ge's own API format),
``+995 599 12 34 56``, ``00995599123456``, ``599-12-34-56``, ``(599) 123 456``. They all mean
the same destination, ``995599123456``. phonenumbers (Google's libphonenumber metadata) decides
validity and the number type, and its carrier data names the operator.

A number is rejected with a :class:`NumberError` whose ``code`` is a :class:`NumberErrorCode`
and whose message says why in words a client can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneNumber,
    PhoneNumberDesc,
    PhoneNumberType,
    ValidationResult,
)
from phonenumbers import carrier as phonenumbers_carrier
from phonenumbers.carrierdata import CARRIER_LONGEST_PREFIX

from mesiji.domain.operators import operator_name
from mesiji.errors import MesijiError

__all__ = [
    "GEORGIA",
    "Destination",
    "NumberError",
    "NumberErrorCode",
    "RejectedNumber",
    "parse_destination",
    "parse_destinations",
    "split_destination_list",
]

GEORGIA: frozenset[str] = frozenset({"GE"})


class NumberErrorCode(StrEnum):
    """Why a destination number was refused; stable values for APIs and logs."""

    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    INVALID = "invalid"
    NOT_MOBILE = "not_mobile"
    REGION_NOT_ALLOWED = "region_not_allowed"


class NumberError(MesijiError):
    """A destination number that cannot receive an SMS; ``code`` says why, ``raw`` is the input."""

    def __init__(self, code: NumberErrorCode, message: str, raw: str) -> None:
        super().__init__(message)
        self.code = code
        self.raw = raw


@dataclass(frozen=True, slots=True)
class Destination:
    """A valid mobile destination.

    ``e164`` is the E.164 number without '+' ("995599123456"), ``region`` its ISO 3166 region
    ("GE"), ``operator`` the name from :func:`mesiji.domain.operators.operator_name`, or None
    when the carrier data does not cover the number's block.
    """

    e164: str
    region: str
    operator: str | None = None


@dataclass(frozen=True, slots=True)
class RejectedNumber:
    """An entry of a destination list that was refused: the input, the code and the reason."""

    raw: str
    code: NumberErrorCode
    reason: str


_SEPARATORS = re.compile(r"[\s()\-]+")
_SHAPE = re.compile(r"\+?[0-9]+", re.ASCII)
# An E.164 number has at most 15 digits, a trunk prefix adds one: longer input never reaches
# phonenumbers.
_MAX_DIGITS = 17
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_TYPE_WORDS = {
    PhoneNumberType.FIXED_LINE: "a landline number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
}
_LENGTH_WORDS = {
    ValidationResult.TOO_SHORT: "has too few digits",
    ValidationResult.TOO_LONG: "has too many digits",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
    ValidationResult.INVALID_COUNTRY_CODE: "has no known country code",
}


def parse_destination(
    raw: str, *, allowed_regions: frozenset[str] = GEORGIA, default_region: str = "GE"
) -> Destination:
    """Parse one destination number.

    Accepted: international form with or without '+' or with '00' (``995599123456``), and
    national form of ``default_region`` (``599123456``, ``0599123456``); spaces, dashes and
    parentheses anywhere. Digits alone are read as national first and, when that is not a
    valid number, as international without the '+', so ``447911123456`` is found to be a UK
    number (and refused as ``region_not_allowed``) rather than an invalid Georgian one.

    Raises :class:`NumberError`: ``empty``, ``not_a_number`` (letters or other symbols),
    ``invalid`` (no such number: wrong length, unused range), ``region_not_allowed`` (valid,
    but its region is not in ``allowed_regions``) or ``not_mobile`` (a landline, VoIP, ...
    number: only MOBILE and FIXED_LINE_OR_MOBILE can take an SMS).
    """
    return _parse_destination(raw, allowed_regions, default_region, fast=True)


def _parse_destination(
    raw: str, allowed_regions: frozenset[str], default_region: str, *, fast: bool
) -> Destination:
    """:func:`parse_destination`; ``fast`` False leaves every number to phonenumbers' parse(),
    as it was before the Georgian fast path (the tests compare the two)."""
    text = raw.strip()
    compact = _SEPARATORS.sub("", text)
    if not compact:
        raise NumberError(NumberErrorCode.EMPTY, "the number is empty", raw)
    if _SHAPE.fullmatch(compact) is None:
        raise NumberError(
            NumberErrorCode.NOT_A_NUMBER,
            f"{_shown(text)} is not a phone number: use digits, with an optional leading '+'",
            raw,
        )
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if len(compact.lstrip("+")) > _MAX_DIGITS:
        raise NumberError(
            NumberErrorCode.INVALID, f"{_shown(text)} is not a number: it has too many digits", raw
        )

    if fast and default_region == "GE" and "GE" in allowed_regions:
        destination = _georgian_mobile(compact)
        if destination is not None:
            return destination
    return _from_parse(compact, text, raw, allowed_regions, default_region)


def _from_parse(
    compact: str, text: str, raw: str, allowed_regions: frozenset[str], default_region: str
) -> Destination:
    """:func:`parse_destination` for a ``compact`` number, through phonenumbers' ``parse``."""
    number = _parse_valid(compact, default_region, text, raw)
    region = phonenumbers.region_code_for_number(number) or "ZZ"
    if region not in allowed_regions:
        where = (
            "a non-geographic number"
            if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
            else f"a number in {region}"
        )
        allowed = ", ".join(sorted(allowed_regions)) or "no region"
        raise NumberError(
            NumberErrorCode.REGION_NOT_ALLOWED,
            f"{_international(number)} is {where}; only numbers in {allowed} are accepted",
            raw,
        )
    kind = phonenumbers.number_type(number)
    if kind not in _MOBILE_TYPES:
        what = _TYPE_WORDS.get(kind, "not a mobile number")
        shown = _international(number)
        raise NumberError(
            NumberErrorCode.NOT_MOBILE, f"{shown} is {what}; SMS needs a mobile number", raw
        )
    e164 = f"{number.country_code}{phonenumbers.national_significant_number(number)}"
    carrier_name = phonenumbers_carrier.name_for_valid_number(number, "en")
    return Destination(e164=e164, region=region, operator=operator_name(region, carrier_name))


# The Georgian mobile fast path: most destinations are Georgian mobiles, and telling one by
# phonenumbers' own metadata for GE costs a fraction of parse() with its validity and type
# checks (docs/decisions.md). A number it does not recognise goes through parse() as any other.
_GE_METADATA = phonenumbers.PhoneMetadata.metadata_for_region("GE")
if _GE_METADATA is None:  # pragma: no cover - phonenumbers has always had Georgia
    raise ImportError("phonenumbers has no metadata for Georgia")
_GE = _GE_METADATA
_GE_CODE = str(phonenumbers.country_code_for_region("GE"))
# The trunk prefix as parse() strips it, when it is a plain digit string ("0") with no
# transform rule; otherwise such numbers are left to parse().
_trunk = _GE.national_prefix_for_parsing or _GE.national_prefix or ""
_GE_TRUNK = _trunk if _trunk.isdigit() and _GE.national_prefix_transform_rule is None else ""
# number_type() tries these before mobile: a number any of them matches is not a MOBILE.
_GE_BEFORE_MOBILE = [
    _GE.premium_rate,
    _GE.toll_free,
    _GE.shared_cost,
    _GE.voip,
    _GE.personal_number,
    _GE.pager,
    _GE.uan,
    _GE.voicemail,
]


def _desc_check(desc: PhoneNumberDesc | None) -> Callable[[str], bool]:
    """Whether a national significant number is of ``desc``, as phonenumbers decides it: one
    of its possible lengths (when it lists any), and its pattern matched whole."""
    if desc is None or desc.national_number_pattern is None:
        return lambda nsn: False
    pattern = re.compile(desc.national_number_pattern)
    lengths = frozenset(desc.possible_length or ())

    def check(nsn: str) -> bool:
        if lengths and len(nsn) not in lengths:
            return False
        return pattern.fullmatch(nsn) is not None

    return check


_GE_GENERAL = _desc_check(_GE.general_desc)
_GE_MOBILE = _desc_check(_GE.mobile)
_GE_NOT_MOBILE = [_desc_check(desc) for desc in _GE_BEFORE_MOBILE if desc is not None]
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def _georgian_mobile(compact: str) -> Destination | None:
    """The destination of ``compact`` when it is plainly a Georgian mobile number (national,
    with the trunk prefix, or international with or without "+"); None for anything else."""
    if compact.startswith("+"):
        if not compact.startswith(_GE_CODE, 1):
            return None
        nsn = compact[1 + len(_GE_CODE) :]
    elif compact.startswith(_GE_CODE) and len(compact) > len(_GE_CODE) + 8:
        nsn = compact[len(_GE_CODE) :]
    elif _GE_TRUNK and compact.startswith(_GE_TRUNK):
        nsn = compact[len(_GE_TRUNK) :]
    else:
        nsn = compact
    if not (_ASCII_DIGITS.fullmatch(nsn) and _GE_GENERAL(nsn) and _GE_MOBILE(nsn)):
        return None
    if any(check(nsn) for check in _GE_NOT_MOBILE):
        return None
    return Destination(e164=_GE_CODE + nsn, region="GE", operator=_georgian_operator(nsn))


# The carrier data names operators by prefixes of at most CARRIER_LONGEST_PREFIX digits of
# the international number: numbers sharing that many digits share their operator.
_GE_BLOCK = max(CARRIER_LONGEST_PREFIX - len(_GE_CODE), 0)


def _georgian_operator(nsn: str) -> str | None:
    return _georgian_operator_of_block(nsn[:_GE_BLOCK], len(nsn))


@lru_cache(maxsize=4096)
def _georgian_operator_of_block(block: str, length: int) -> str | None:
    national = int(block.ljust(length, "0"))
    number = PhoneNumber(country_code=int(_GE_CODE), national_number=national)
    return operator_name("GE", phonenumbers_carrier.name_for_valid_number(number, "en"))


def _parse_valid(compact: str, default_region: str, text: str, raw: str) -> PhoneNumber:
    """The valid PhoneNumber ``compact`` stands for, or a NumberError ``invalid``."""
    try:
        number = phonenumbers.parse(compact, default_region)
    except NumberParseException as exc:
        # The other parse errors (TOO_SHORT_NSN, TOO_SHORT_AFTER_IDD, NOT_A_NUMBER for a lone
        # digit) all mean too few digits: TOO_LONG cannot happen under _MAX_DIGITS.
        why = (
            "has no known country code"
            if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE
            else "has too few digits"
        )
        raise NumberError(
            NumberErrorCode.INVALID, f"{_shown(text)} is not a valid number: it {why}", raw
        ) from exc
    if phonenumbers.is_valid_number(number):
        return number
    if not compact.startswith("+"):
        try:
            international = phonenumbers.parse("+" + compact)
        except NumberParseException:
            pass  # the national reading's reason below is the one to give
        else:
            if phonenumbers.is_valid_number(international):
                return international
    why = _LENGTH_WORDS.get(
        phonenumbers.is_possible_number_with_reason(number), "is not in a range in use"
    )
    shown = _international(number)
    raise NumberError(NumberErrorCode.INVALID, f"{shown} is not a valid number: it {why}", raw)


def _international(number: PhoneNumber) -> str:
    """The number as people read it ("+995 32 212 34 56"): for messages only, as it costs."""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _shown(text: str) -> str:
    """The client's input for a message, quoted and cut short."""
    return repr(text if len(text) <= 24 else text[:24] + "…")


# Commas, semicolons and line breaks always separate entries; spaces are ambiguous.
_LIST_SEPARATORS = re.compile(r"[,;\r\n\t\v\f]+")
_NUMBERISH = re.compile(r"[+()\-0-9]+", re.ASCII)
_MIN_WHOLE_DIGITS = 8


def split_destination_list(text: str) -> list[str]:
    """Split a destination list into entries, in order.

    Commas, semicolons, tabs and line breaks separate entries. Spaces separate entries too,
    except between short groups of digits, which are taken as one number written in groups:
    "995599000001 995599000002" is two entries, "+995 (599) 12-34-56" is one, and
    "599123456 599 12 34 57" is two. A group is a word of digits, '+', '()' and '-' with
    fewer than 8 digits; no group of a grouped Georgian number has more. Empty entries are
    dropped.
    """
    entries: list[str] = []
    for chunk in _LIST_SEPARATORS.split(text):
        run: list[str] = []
        for word in chunk.split():
            if _is_group(word):
                run.append(word)
                continue
            if run:
                entries.append(" ".join(run))
                run = []
            entries.append(word)
        if run:
            entries.append(" ".join(run))
    return entries


def _is_group(word: str) -> bool:
    """Whether a space-separated word looks like one digit group of a longer number."""
    if _NUMBERISH.fullmatch(word) is None:
        return False
    return sum(char.isdigit() for char in word) < _MIN_WHOLE_DIGITS


def parse_destinations(
    raw: str | Iterable[str],
    *,
    allowed_regions: frozenset[str] = GEORGIA,
    default_region: str = "GE",
) -> tuple[list[Destination], list[RejectedNumber]]:
    """Parse a destination list: the valid destinations, and every entry refused.

    A string is split with :func:`split_destination_list` (smsoffice.ge sends
    ``destination=995599000001,995599000002``); any other iterable gives one number per item,
    as a JSON array would. Destinations keep the order of their first occurrence, and repeats
    of the same number, however written, are dropped. Each refused entry is reported, repeats
    included, with its code and reason. No limit on the count is applied here: the caller caps
    the request size. Parsing costs about 30 µs a number.
    """
    entries = split_destination_list(raw) if isinstance(raw, str) else raw
    destinations: list[Destination] = []
    rejected: list[RejectedNumber] = []
    seen: set[str] = set()
    for entry in entries:
        try:
            destination = parse_destination(
                entry, allowed_regions=allowed_regions, default_region=default_region
            )
        except NumberError as exc:
            rejected.append(RejectedNumber(raw=entry, code=exc.code, reason=str(exc)))
            continue
        if destination.e164 not in seen:
            seen.add(destination.e164)
            destinations.append(destination)
    return destinations, rejected
