"""The fast path of parse_destination gives what phonenumbers alone gives, for every input."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mesiji.domain import numbers
from mesiji.domain.numbers import Destination, NumberError, parse_destination


def _by_phonenumbers(raw: str, region: str) -> Destination | tuple[str, str]:
    try:
        text, compact = numbers._compact(raw)
        return numbers._parse_compact(compact, text, raw, frozenset({region}), region)
    except NumberError as exc:
        return (exc.code, str(exc))


def _by_parse_destination(raw: str, region: str) -> Destination | tuple[str, str]:
    try:
        return parse_destination(raw, allowed_regions=frozenset({region}), default_region=region)
    except NumberError as exc:
        return (exc.code, str(exc))


_prefixes = st.sampled_from(["", "+995", "995", "00995", "0", "+", "00", "9950", "+9950"])
# Georgian ranges and near misses: mobiles (5xx), Tbilisi and regional landlines, VoIP (70x),
# toll free (800), unused ranges.
_leads = st.sampled_from(
    [
        *("5", "55", "555", "568", "571", "591", "599", "514", "500"),
        *("32", "322", "4", "70", "706", "800", "9", "1", "6", "8", "0"),
    ]
)
_separators = st.sampled_from(["", " ", "-", " - ", "(", ")"])


@st.composite
def georgian_looking(draw: st.DrawFn) -> str:
    digits = draw(_leads) + draw(st.text("0123456789", min_size=0, max_size=10))
    # Separators dropped between random digits, as people group numbers.
    cut = draw(st.integers(0, len(digits)))
    body = digits[:cut] + draw(_separators) + digits[cut:]
    noise = draw(st.sampled_from(["", "", "", " ", "x", "\u0665"]))
    return draw(_prefixes) + draw(_separators) + body + noise


@settings(max_examples=3000, deadline=None)
@given(georgian_looking())
@example("995599123456")
@example("+995 599 12 34 56")
@example("0599123456")
@example("995322123456")
@example("995706123456")
@example("+9950599123456")
def test_georgian_inputs_get_the_same_answer(raw: str) -> None:
    assert _by_parse_destination(raw, "GE") == _by_phonenumbers(raw, "GE")


@pytest.mark.parametrize("region", ["GE", "AM", "AZ", "UA", "DE", "GB", "US", "TR", "IT"])
@settings(max_examples=300, deadline=None)
@given(st.text("+0123456789 -", min_size=1, max_size=16))
def test_other_home_regions_get_the_same_answer(region: str, raw: str) -> None:
    assert _by_parse_destination(raw, region) == _by_phonenumbers(raw, region)


def test_a_plain_georgian_mobile_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> Destination:
        raise AssertionError("parse was called")

    monkeypatch.setattr(numbers, "_parse_compact", refuse)
    forms = ("995599123456", "+995 599 12 34 56", "00995599123456", "599-12-34-56", "0599123456")
    for raw in forms:
        destination = parse_destination(raw)
        assert destination == Destination("995599123456", "GE", destination.operator)
        assert destination.operator == "Magti"
