"""Mobile-originated messages: text from a handset turned into the deliver_sm an SMSC sends."""

from __future__ import annotations

from mesiji.errors import TextError
from mesiji.smpp.addresses import source_address
from mesiji.smpp.constants import EsmClass
from mesiji.smpp.pdus import DeliverSm
from mesiji.smpp.submit import part_tlvs
from mesiji.text import Alphabet, ConcatMethod, split_text
from mesiji.text.coding import DataCoding

__all__ = ["mo_pdus"]

_ALPHABETS = {alphabet.data_coding: alphabet for alphabet in Alphabet}


def mo_pdus(
    source_addr: str,
    destination_addr: str,
    text: str,
    *,
    data_coding: int | None = None,
    concat: ConcatMethod | str = ConcatMethod.udh8,
    reference: int = 0,
) -> list[DeliverSm]:
    """The deliver_sm PDUs (one per part) of an MO message from ``source_addr``.

    ``data_coding`` picks the alphabet (0x00 GSM-7, 0x03 Latin-1, 0x08 UCS-2); None takes the
    most compact one that carries the text. A long text is split with ``concat``: a UDH in
    each part (``udh8``, ``udh16``), the sar_* TLVs (``sar``, SMPP 3.4 §5.3.2.22-24) or the
    whole text in message_payload (``payload``, §5.3.2.32). Raises TextError when the text
    does not fit the alphabet or ``data_coding`` names none Mesiji writes.
    """
    alphabet: Alphabet | None = None
    if data_coding is not None:
        try:
            alphabet = _ALPHABETS[DataCoding(data_coding)]
        except (KeyError, ValueError):
            raise TextError(f"cannot write MO text with data_coding 0x{data_coding:02X}") from None
    try:
        method = ConcatMethod(concat)
    except ValueError:
        raise TextError(f"unknown concatenation method {concat!r}") from None
    parts = split_text(text, alphabet=alphabet, method=method, reference=reference)
    # An MO message comes from a subscriber's number to the ESME's number or sender name.
    source = source_address(source_addr)
    dest = source_address(destination_addr)
    return [
        DeliverSm(
            source_addr_ton=source.ton,
            source_addr_npi=source.npi,
            source_addr=source_addr,
            dest_addr_ton=dest.ton,
            dest_addr_npi=dest.npi,
            destination_addr=destination_addr,
            esm_class=int(EsmClass.udhi) if part.udhi else 0,
            data_coding=part.data_coding,
            short_message=part.short_message,
            tlvs=part_tlvs(part),
        )
        for part in parts
    ]
