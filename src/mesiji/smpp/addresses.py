"""TON and NPI for the addresses Mesiji sends (SMPP 3.4 §5.2.5, §5.2.6)."""

from __future__ import annotations

from dataclasses import dataclass

from mesiji.smpp.constants import Npi, Ton


@dataclass(frozen=True, slots=True)
class Address:
    """An address as SMPP carries it."""

    ton: int
    npi: int
    addr: str


def source_address(sender: str) -> Address:
    """The originator for ``sender``.

    An alphanumeric sender ID ("Mesiji") is TON 5 / NPI 0; a short code (up to 8 digits) is
    network-specific; a longer number is an international MSISDN (TON 1 / NPI 1, E.164 §6).
    """
    digits = sender.removeprefix("+")
    if not digits.isdigit():
        return Address(Ton.alphanumeric, Npi.unknown, sender)
    if len(digits) <= 8:
        return Address(Ton.network_specific, Npi.unknown, digits)
    return Address(Ton.international, Npi.isdn, digits)


def destination_address(number: str) -> Address:
    """A mobile number in international form, without its ``+`` (TON 1 / NPI 1)."""
    return Address(Ton.international, Npi.isdn, number.removeprefix("+"))
