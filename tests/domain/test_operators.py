"""Operator names: the carrier data's names, current and historical, normalised for Georgia."""

from __future__ import annotations

import pytest

from mesiji.domain.operators import CELLFIE, MAGTI, SILKNET, operator_name


@pytest.mark.parametrize(
    ("carrier_name", "expected"),
    [
        ("MagtiCom", MAGTI),
        ("Magti", MAGTI),
        ("MAGTICOM", MAGTI),
        ("Silknet", SILKNET),
        ("Geocell", SILKNET),
        ("Cellfie", CELLFIE),
        ("Beeline", CELLFIE),
        ("VEON", CELLFIE),
        ("Mobitel", CELLFIE),
        (" Beeline ", CELLFIE),
        ("Globalcell", "Globalcell"),
        ("", None),
        ("  ", None),
    ],
)
def test_georgian_names(carrier_name: str, expected: str | None) -> None:
    assert operator_name("GE", carrier_name) == expected


def test_aliases_are_georgian_only() -> None:
    assert operator_name("AM", "Beeline") == "Beeline"
    assert operator_name("AM", "") is None
