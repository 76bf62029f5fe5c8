"""Sender names: the one rule the APIs and the command line share."""

from __future__ import annotations

import pytest

from mesiji.domain.senders import valid_sender_name


@pytest.mark.parametrize(
    "name", ["Shop", "A", "Tbilisi Tax", "A.B-C_D&E 1", "1a", "995599000001", "+995599000001"]
)
def test_valid_senders(name: str) -> None:
    assert valid_sender_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ABCDEFGHIJKL",  # 12 characters: more than an alphanumeric originator holds
        "1234567890123456",  # 16 digits: longer than E.164
        "Shop!",
        "ბათუმი",
        "Šop",
        "Shop\x00",
        "12 34",  # digits and a space: neither a name (no letter) nor a number
    ],
)
def test_invalid_senders(name: str) -> None:
    assert not valid_sender_name(name)
