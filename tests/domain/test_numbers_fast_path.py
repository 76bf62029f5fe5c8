"""The Georgian mobile fast path answers exactly as phonenumbers' parse() does."""

from __future__ import annotations

import phonenumbers
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mesiji.domain import numbers
from mesiji.domain.numbers import GEORGIA, Destination, NumberError


def _outcome(raw: str, allowed: frozenset[str], *, fast: bool) -> object:
    """The destination, or the refusal's code and message."""
    try:
        return numbers._parse_destination(raw, allowed, "GE", fast=fast)
    except NumberError as exc:
        return (exc.code, str(exc), exc.raw)


_DIGITS = st.text("0123456789", min_size=0, max_size=13)
# Georgian-looking national numbers: mobile ranges (5xx), landlines (3x, 4x), toll-free (800),
# VoIP (706, 707), unused ranges, and wrong lengths.
_NATIONAL = st.one_of(
    st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(["5", "55", "59", "599", "555", "577", "514", "32", "3", "4", "800"]),
        st.text("0123456789", min_size=4, max_size=9),
    ),
    st.builds(lambda tail: "70" + tail, st.text("0123456789", min_size=5, max_size=8)),
    _DIGITS,
)
_PREFIX = st.sampled_from(["", "+995", "995", "00995", "0", "00", "+", "+9950", "0995", "+7"])
_SEPARATOR = st.sampled_from(["", "", " ", "-", "(", ")", "  "])


@st.composite
def _georgian_looking(draw: st.DrawFn) -> str:
    digits = draw(_PREFIX) + draw(_NATIONAL)
    cuts = draw(st.lists(st.integers(0, len(digits)), max_size=4))
    out = digits
    for cut in sorted(set(cuts), reverse=True):
        out = out[:cut] + draw(_SEPARATOR) + out[cut:]
    return draw(st.sampled_from(["", " "])) + out


@settings(max_examples=3000, deadline=None)
@given(raw=_georgian_looking(), allowed=st.sampled_from([GEORGIA, frozenset({"GE", "GB"})]))
@example(raw="+995 599 12 34 56", allowed=GEORGIA)
@example(raw="0599123456", allowed=GEORGIA)
@example(raw="995599123456", allowed=GEORGIA)
@example(raw="00995599123456", allowed=GEORGIA)
@example(raw="599-12-34-56", allowed=GEORGIA)
@example(raw="706123456", allowed=GEORGIA)
@example(raw="+9950599123456", allowed=GEORGIA)
def test_the_fast_path_agrees_with_parse(raw: str, allowed: frozenset[str]) -> None:
    assert _outcome(raw, allowed, fast=True) == _outcome(raw, allowed, fast=False)


@settings(max_examples=500, deadline=None)
@given(nsn=st.from_regex(r"5[0-9]{8}", fullmatch=True))
def test_the_operator_is_the_carrier_datas(nsn: str) -> None:
    fast = numbers._georgian_mobile(nsn)
    parsed = _outcome(nsn, GEORGIA, fast=False)
    if fast is None:
        # Declined: not a mobile number by GE's metadata, so parse() refuses it too.
        assert not isinstance(parsed, Destination)
    else:
        assert fast == parsed


def test_common_forms_take_the_fast_path() -> None:
    mobile = phonenumbers.example_number_for_type("GE", phonenumbers.PhoneNumberType.MOBILE)
    assert mobile is not None
    nsn = phonenumbers.national_significant_number(mobile)
    for raw in [nsn, "0" + nsn, "995" + nsn, "+995" + nsn]:
        destination = numbers._georgian_mobile(raw)
        assert destination is not None, raw
        assert destination.e164 == "995" + nsn
        assert destination == numbers.parse_destination(raw)


def test_other_regions_and_settings_are_left_to_parse() -> None:
    assert numbers._georgian_mobile("+447911123456") is None
    assert numbers._georgian_mobile("322123456") is None  # a Tbilisi landline
    with_us_default = numbers.parse_destination(
        "2015550123", allowed_regions=frozenset({"US"}), default_region="US"
    )
    assert with_us_default.e164 == "12015550123"
