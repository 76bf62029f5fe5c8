"""Mobile-originated messages: text from a handset turned into the deliver_sm an SMSC sends."""

from __future__ import annotations

from mesiji.errors import TextError
from mesiji.smpp import tlv
from mesiji.smpp.constants import DataCoding, EsmClass, Npi, Ton
from mesiji.smpp.pdus import DeliverSm
from mesiji.smpp.tlv import Tlv
from mesiji.text import Alphabet, ConcatMethod, split_text

__all__ = ["mo_pdus"]

_ALPHABETS = {
    DataCoding.smsc_default: Alphabet.gsm7,
    DataCoding.latin1: Alphabet.latin1,
    DataCoding.ucs2: Alphabet.ucs2,
}


def _address(address: str) -> tuple[int, int]:
    # SMPP 3.4 §5.2.5-6: a long number is international E.164, a short one a short code,
    # anything else an alphanumeric name.
    digits = address.removeprefix("+")
    if digits.isdigit():
        return (Ton.international if len(digits) > 8 else Ton.unknown), Npi.isdn
    return Ton.alphanumeric, Npi.unknown


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
    source_ton, source_npi = _address(source_addr)
    dest_ton, dest_npi = _address(destination_addr)
    pdus: list[DeliverSm] = []
    for part in parts:
        tlvs: list[Tlv] = []
        if part.sar is not None:
            tlvs += [
                Tlv.of(tlv.sar_msg_ref_num, part.sar.msg_ref_num),
                Tlv.of(tlv.sar_total_segments, part.sar.total_segments),
                Tlv.of(tlv.sar_segment_seqnum, part.sar.segment_seqnum),
            ]
        if part.message_payload is not None:
            tlvs.append(Tlv.of(tlv.message_payload, part.message_payload))
        pdus.append(
            DeliverSm(
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                source_addr=source_addr,
                dest_addr_ton=dest_ton,
                dest_addr_npi=dest_npi,
                destination_addr=destination_addr,
                esm_class=int(EsmClass.udhi) if part.udhi else 0,
                data_coding=part.data_coding,
                short_message=part.short_message,
                tlvs=tuple(tlvs),
            )
        )
    return pdus
