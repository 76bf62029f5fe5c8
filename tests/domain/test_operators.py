"""Operator names: the carrier data's names, current and historical, normalised for Georgia."""

from __future__ import annotations

import pytest

from mesiji.domain.operators import (
    CELLFIE,
    GEORGIAN_OPERATORS,
    MAGTI,
    OPERATOR_NAMES_KA,
    SILKNET,
    operator_name,
)


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


def test_every_operator_has_a_georgian_name() -> None:
    assert dict(OPERATOR_NAMES_KA) == {
        MAGTI: "მაგთი",
        SILKNET: "სილქნეტი",
        CELLFIE: "სელფი",
    }
    assert set(GEORGIAN_OPERATORS) == set(OPERATOR_NAMES_KA)
