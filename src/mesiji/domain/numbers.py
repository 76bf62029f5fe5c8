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
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType, ValidationResult
from phonenumbers import carrier as phonenumbers_carrier

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
    text, compact = _compact(raw)
    home = _home_mobile(compact, allowed_regions, default_region)
    if home is not None:
        return home
    return _parse_compact(compact, text, raw, allowed_regions, default_region)


def _compact(raw: str) -> tuple[str, str]:
    """The input stripped, and its digits with '+' (separators gone, '00' read as '+').

    Raises :class:`NumberError` ``empty``, ``not_a_number`` or ``invalid`` (too many digits).
    """
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

    return text, compact


@dataclass(frozen=True, slots=True)
class _HomeMobiles:
    """What makes a number a valid mobile of one region, read from phonenumbers' metadata.

    phonenumbers calls a number of a region valid and MOBILE (or FIXED_LINE_OR_MOBILE) when its
    national significant number matches the region's general pattern and its mobile pattern
    and none of the patterns it tests before fixed line and mobile (premium rate, toll free,
    VoIP, ...). Matching those same patterns here gives the same answer for the numbers most
    traffic carries, without building a PhoneNumber or trying several readings.
    """

    region: str
    country_code: str
    national_prefix: str | None
    general: _Desc
    mobile: _Desc
    others: tuple[_Desc, ...]


@dataclass(frozen=True, slots=True)
class _Desc:
    """One number type of the metadata: its possible lengths (empty: any) and pattern."""

    lengths: frozenset[int]
    pattern: re.Pattern[str]

    def matches(self, nsn: str) -> bool:
        # As phonenumbers does: the length first, then the whole NSN against the pattern.
        return (not self.lengths or len(nsn) in self.lengths) and bool(self.pattern.fullmatch(nsn))


def _desc(desc: phonenumbers.PhoneNumberDesc | None) -> _Desc | None:
    if desc is None or desc.national_number_pattern is None:
        return None
    return _Desc(frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern))


# The number types phonenumbers.number_type tests before fixed line and mobile.
_TESTED_FIRST = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


@cache
def _home_mobiles(region: str) -> _HomeMobiles | None:
    """The fast-path rules of ``region``; None when its metadata has no plain mobile pattern."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code is None:
        return None
    general, mobile = _desc(metadata.general_desc), _desc(metadata.mobile)
    if general is None or mobile is None:
        return None
    # Readings this path does not model are left to parse: a country code shared by several
    # regions, a trunk-prefix rule beyond a plain prefix.
    if phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code) != (region,):
        return None
    if metadata.national_prefix_transform_rule or metadata.leading_digits:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix is not None and prefix != metadata.national_prefix:
        return None
    others = tuple(
        desc for name in _TESTED_FIRST if (desc := _desc(getattr(metadata, name))) is not None
    )
    return _HomeMobiles(
        region=region,
        country_code=str(metadata.country_code),
        national_prefix=metadata.national_prefix,
        general=general,
        mobile=mobile,
        others=others,
    )


def _home_mobile(
    compact: str, allowed_regions: frozenset[str], default_region: str
) -> Destination | None:
    """``compact`` as a valid mobile of ``default_region`` when it plainly is one, else None.

    The fast path of :func:`parse_destination` (a few µs against about 25 for parse): it reads
    ``+CC NSN``, ``CC NSN``, ``NSN`` and ``0 NSN`` only, and only answers when the NSN is a
    mobile by the region's own patterns. Anything else, every refusal included, is left to
    :func:`_parse_compact`, so both give the same result (a property test holds them to it).
    """
    if default_region not in allowed_regions:
        return None
    rules = _home_mobiles(default_region)
    if rules is None:
        return None
    code = rules.country_code
    if compact.startswith("+"):
        if not compact.startswith(code, 1):
            return None
        nsn = compact[1 + len(code) :]
    elif rules.general.matches(compact):
        nsn = compact  # national: phonenumbers reads digits alone this way first
    elif rules.national_prefix and compact.startswith(rules.national_prefix):
        nsn = compact[len(rules.national_prefix) :]
    elif compact.startswith(code):
        nsn = compact[len(code) :]
    else:
        return None
    if not (rules.general.matches(nsn) and rules.mobile.matches(nsn)):
        return None
    if any(other.matches(nsn) for other in rules.others):
        return None
    number = PhoneNumber(country_code=int(code), national_number=int(nsn))
    carrier_name = phonenumbers_carrier.name_for_valid_number(number, "en")
    return Destination(
        e164=code + nsn,
        region=rules.region,
        operator=operator_name(rules.region, carrier_name),
    )


def _parse_compact(
    compact: str, text: str, raw: str, allowed_regions: frozenset[str], default_region: str
) -> Destination:
    """:func:`parse_destination` by phonenumbers alone: the reference the fast path matches."""
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
    the request size. A plain mobile of the home region costs a few µs (see
    ``bench/numbers_bench.py``), any other number about 25 µs.
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
