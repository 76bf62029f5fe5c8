"""Destination numbers: every way clients write them, every way they are refused, lists."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.domain.numbers import (
    Destination,
    NumberError,
    NumberErrorCode,
    RejectedNumber,
    parse_destination,
    parse_destinations,
    split_destination_list,
)
from mesiji.errors import MesijiError

# Observed with phonenumbers 9.0.43 for "+995 <prefix> 123456": the mapping is phonenumbers'
# carrier data (phonenumbers/carrierdata, from libphonenumber's resources/carrier/en/995.txt),
# which names MagtiCom, Silknet and Cellfie; Mesiji shortens MagtiCom to Magti. A new
# phonenumbers release may move a block: then this table is what to review.
OBSERVED_OPERATORS = {
    "514": "Silknet",
    "551": "Magti",
    "555": "Silknet",
    "557": "Silknet",
    "558": "Silknet",
    "568": "Cellfie",
    "570": "Silknet",
    "571": "Cellfie",
    "574": "Cellfie",
    "577": "Silknet",
    "579": "Cellfie",
    "591": "Magti",
    "592": "Cellfie",
    "593": "Silknet",
    "595": "Magti",
    "596": "Magti",
    "597": "Cellfie",
    "598": "Magti",
    "599": "Magti",
}

MAGTI_599 = Destination(e164="995599123456", region="GE", operator="Magti")


@pytest.mark.parametrize(
    "raw",
    [
        "995599123456",  # smsoffice.ge's own format
        "+995599123456",
        "00995599123456",
        "599123456",  # national
        "0599123456",  # national with the trunk prefix
        "+995 599 12 34 56",
        "995 599 123 456",
        "+995-599-12-34-56",
        "+995 (599) 12-34-56",
        "(599) 123 456",
        "599-12-34-56",
        "  995599123456\n",
        "00 995 599 12 34 56",
        "+995\u00a0599\u00a0123456",  # no-break spaces, as pasted from a web page
    ],
)
def test_every_format_of_one_number(raw: str) -> None:
    assert parse_destination(raw) == MAGTI_599


@pytest.mark.parametrize(("prefix", "operator"), sorted(OBSERVED_OPERATORS.items()))
def test_operator_of_each_mobile_prefix(prefix: str, operator: str) -> None:
    destination = parse_destination(f"+995 {prefix} 123456")
    assert destination == Destination(e164=f"995{prefix}123456", region="GE", operator=operator)


def test_valid_block_outside_the_carrier_data_has_no_operator() -> None:
    assert parse_destination("995578123456").operator is None


def test_mvno_keeps_the_carrier_data_name() -> None:
    assert parse_destination("995559123456").operator == "Globalcell"


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        ("", NumberErrorCode.EMPTY, "the number is empty"),
        ("   ", NumberErrorCode.EMPTY, "the number is empty"),
        ("( - )", NumberErrorCode.EMPTY, "the number is empty"),
        ("ABC", NumberErrorCode.NOT_A_NUMBER, "'ABC' is not a phone number"),
        ("599ABC123", NumberErrorCode.NOT_A_NUMBER, "'599ABC123' is not a phone number"),
        ("+", NumberErrorCode.NOT_A_NUMBER, "is not a phone number"),
        ("++995599123456", NumberErrorCode.NOT_A_NUMBER, "is not a phone number"),
        ("599.12.34.56", NumberErrorCode.NOT_A_NUMBER, "is not a phone number"),
        (
            "\u0665\u0669\u0669\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic 599123456
            NumberErrorCode.NOT_A_NUMBER,
            "is not a phone number",
        ),
        (
            "99559912345",
            NumberErrorCode.INVALID,
            "+995 59912345 is not a valid number: it has too few",
        ),
        ("9955991234567", NumberErrorCode.INVALID, "has too many digits"),
        ("59912345", NumberErrorCode.INVALID, "has too few digits"),
        ("8599123456", NumberErrorCode.INVALID, "is not a valid number"),  # old trunk prefix 8
        ("+0599123456", NumberErrorCode.INVALID, "has no known country code"),
        ("5", NumberErrorCode.INVALID, "has too few digits"),
        ("1" * 30, NumberErrorCode.INVALID, "has too many digits"),
        (
            "995322123456",
            NumberErrorCode.NOT_MOBILE,
            "+995 32 212 34 56 is a landline number; SMS needs a mobile number",
        ),
        ("322 12 34 56", NumberErrorCode.NOT_MOBILE, "is a landline number"),  # Tbilisi
        ("+995 422 27 12 34", NumberErrorCode.NOT_MOBILE, "is a landline number"),  # Batumi
        ("+995 706 12 34 56", NumberErrorCode.NOT_MOBILE, "is a VoIP number"),
        (
            "+447400123456",
            NumberErrorCode.REGION_NOT_ALLOWED,
            "+44 7400 123456 is a number in GB; only numbers in GE are accepted",
        ),
        ("447400123456", NumberErrorCode.REGION_NOT_ALLOWED, "is a number in GB"),
        ("0037499123456", NumberErrorCode.REGION_NOT_ALLOWED, "is a number in AM"),
        ("+1 202 555 0123", NumberErrorCode.REGION_NOT_ALLOWED, "is a number in US"),
        ("+800 1234 5678", NumberErrorCode.REGION_NOT_ALLOWED, "is a non-geographic number"),
    ],
)
def test_rejects(raw: str, code: NumberErrorCode, reason: str) -> None:
    with pytest.raises(NumberError) as caught:
        parse_destination(raw)
    assert caught.value.code == code
    assert caught.value.raw == raw
    assert reason in str(caught.value)


def test_number_error_is_a_mesiji_error_with_a_string_code() -> None:
    with pytest.raises(MesijiError) as caught:
        parse_destination("x")
    assert isinstance(caught.value, NumberError)
    assert caught.value.code == "not_a_number"


def test_long_input_is_quoted_short_in_the_reason() -> None:
    with pytest.raises(NumberError) as caught:
        parse_destination("x" * 10_000)
    assert len(str(caught.value)) < 100


def test_other_regions_when_allowed() -> None:
    regions = frozenset({"GE", "AM"})
    armenian = parse_destination("+374 99 123456", allowed_regions=regions)
    assert (armenian.e164, armenian.region) == ("37499123456", "AM")
    # Digits alone are still read as national for the default region first.
    assert parse_destination("599123456", allowed_regions=regions) == MAGTI_599


def test_georgian_aliases_do_not_apply_abroad() -> None:
    # Outside Georgia the carrier data's name is kept as given (phonenumbers 9.0.43).
    destination = parse_destination("+374 99 123456", allowed_regions=frozenset({"AM"}))
    assert destination.operator == "Team Telecom Armenia"


def test_armenian_national_number_with_armenian_default_region() -> None:
    destination = parse_destination(
        "099 123456", allowed_regions=frozenset({"AM"}), default_region="AM"
    )
    assert destination.e164 == "37499123456"


_FORMATS = (
    "995{p}{a}{b}{c}",
    "+995{p}{a}{b}{c}",
    "00995{p}{a}{b}{c}",
    "{p}{a}{b}{c}",
    "+995 {p} {a} {b} {c}",
    "({p}) {a}-{b}-{c}",
    "0{p}{a}{b}{c}",
)


@given(
    prefix=st.sampled_from(sorted(OBSERVED_OPERATORS)),
    subscriber=st.integers(min_value=0, max_value=999_999),
    layout=st.sampled_from(_FORMATS),
)
def test_any_layout_of_a_mobile_number_gives_the_same_destination(
    prefix: str, subscriber: int, layout: str
) -> None:
    digits = f"{subscriber:06d}"
    raw = layout.format(p=prefix, a=digits[:2], b=digits[2:4], c=digits[4:])
    destination = parse_destination(raw)
    assert destination.e164 == f"995{prefix}{digits}"
    assert destination.region == "GE"


@pytest.mark.parametrize(
    ("text", "entries"),
    [
        ("995599000001,995599000002", ["995599000001", "995599000002"]),
        (
            "995599000001, 995599000002;995599000003",
            ["995599000001", "995599000002", "995599000003"],
        ),
        ("995599000001 995599000002", ["995599000001", "995599000002"]),
        ("995599000001\r\n995599000002\n", ["995599000001", "995599000002"]),
        ("995599000001\t995599000002", ["995599000001", "995599000002"]),
        ("+995 599 12 34 56", ["+995 599 12 34 56"]),
        ("+995 (599) 12-34-56, 599 12 34 57", ["+995 (599) 12-34-56", "599 12 34 57"]),
        ("599123456 599 12 34 57", ["599123456", "599 12 34 57"]),
        ("995599000001 abc", ["995599000001", "abc"]),
        (",, ;\n", []),
        ("", []),
    ],
)
def test_split_destination_list(text: str, entries: list[str]) -> None:
    assert split_destination_list(text) == entries


def test_list_keeps_order_drops_repeats_and_reports_every_reject() -> None:
    text = (
        "995599000002,+995 599 00 00 01,995322123456;00995599000002,"
        "hello,599000001,995599000003,995322123456"
    )
    destinations, rejected = parse_destinations(text)
    assert [d.e164 for d in destinations] == ["995599000002", "995599000001", "995599000003"]
    assert [(r.raw, r.code) for r in rejected] == [
        ("995322123456", NumberErrorCode.NOT_MOBILE),
        ("hello", NumberErrorCode.NOT_A_NUMBER),
        ("995322123456", NumberErrorCode.NOT_MOBILE),
    ]
    assert rejected[0] == RejectedNumber(
        raw="995322123456",
        code=NumberErrorCode.NOT_MOBILE,
        reason="+995 32 212 34 56 is a landline number; SMS needs a mobile number",
    )


def test_list_of_items_takes_each_item_as_one_number() -> None:
    destinations, rejected = parse_destinations(["+995 599 12 34 56", "", "995599123456"])
    assert destinations == [MAGTI_599]
    assert [(r.raw, r.code) for r in rejected] == [("", NumberErrorCode.EMPTY)]


def test_list_honours_allowed_regions() -> None:
    destinations, rejected = parse_destinations(
        "995599123456,+37499123456", allowed_regions=frozenset({"AM"})
    )
    assert [d.e164 for d in destinations] == ["37499123456"]
    assert [r.code for r in rejected] == [NumberErrorCode.REGION_NOT_ALLOWED]


def test_a_thousand_numbers_in_one_request() -> None:
    prefixes = sorted(OBSERVED_OPERATORS)
    numbers = [f"995{prefixes[i % len(prefixes)]}{i * 7919 % 1_000_000:06d}" for i in range(1000)]
    assert len(set(numbers)) == 1000
    parse_destination(numbers[0])  # phonenumbers loads its carrier data on first use

    started = time.perf_counter()
    destinations, rejected = parse_destinations(",".join(numbers))
    elapsed = time.perf_counter() - started

    assert rejected == []
    assert [d.e164 for d in destinations] == numbers
    assert {d.operator for d in destinations} == {"Magti", "Silknet", "Cellfie"}
    # About 30 ms on a laptop; the bound only catches an accidental slowdown by 30 times.
    assert elapsed < 1.0
