"""Turning a text into the submit_sm PDUs that carry it (SMPP 3.4 §4.4, §5.3.2.22-24, .32)."""

from __future__ import annotations

from mesiji.smpp import tlv
from mesiji.smpp.addresses import Address, destination_address, source_address
from mesiji.smpp.constants import EsmClass, RegisteredDelivery
from mesiji.smpp.pdus import SubmitSm
from mesiji.text import Alphabet, ConcatMethod, Part, split_text

# esm_class as a plain int, as the dispatcher's submit_sm have always carried it.
_UDHI = int(EsmClass.udhi)


def submit_sms(
    *,
    sender: str,
    destination: str,
    text: str,
    alphabet: Alphabet | None = None,
    concat: ConcatMethod = ConcatMethod.udh8,
    reference: int = 0,
    receipt: bool = True,
    validity_period: str = "",
    service_type: str = "",
) -> list[SubmitSm]:
    """One submit_sm per part of ``text`` from ``sender`` to ``destination``.

    Every part asks for its own delivery receipt, so a multipart message is tracked part by
    part. ``reference`` ties the parts together (UDH or sar_msg_ref_num) and must differ
    between the long messages in flight to one handset.
    """
    source = source_address(sender)
    dest = destination_address(destination)
    registered = RegisteredDelivery.receipt_always if receipt else RegisteredDelivery.none
    parts = split_text(text, alphabet=alphabet, method=concat, reference=reference)
    return [
        part_submit_sm(
            part,
            source,
            dest,
            registered_delivery=registered,
            validity_period=validity_period,
            service_type=service_type,
        )
        for part in parts
    ]


def part_submit_sm(
    part: Part,
    source: Address,
    dest: Address,
    *,
    registered_delivery: int,
    validity_period: str = "",
    service_type: str = "",
) -> SubmitSm:
    """The submit_sm carrying ``part`` from ``source`` to ``dest``."""
    return SubmitSm(
        service_type=service_type,
        source_addr_ton=source.ton,
        source_addr_npi=source.npi,
        source_addr=source.addr,
        dest_addr_ton=dest.ton,
        dest_addr_npi=dest.npi,
        destination_addr=dest.addr,
        esm_class=_UDHI if part.udhi else 0,
        validity_period=validity_period,
        registered_delivery=registered_delivery,
        data_coding=part.data_coding,
        short_message=part.short_message,
        tlvs=part_tlvs(part),
    )


def part_tlvs(part: Part) -> tuple[tlv.Tlv, ...]:
    """The TLVs that carry ``part``: message_payload, or the sar_* trio (§5.3.2.22-24)."""
    if part.message_payload is not None:
        return (tlv.Tlv.of(tlv.message_payload, part.message_payload),)
    if part.sar is not None:
        return (
            tlv.Tlv.of(tlv.sar_msg_ref_num, part.sar.msg_ref_num),
            tlv.Tlv.of(tlv.sar_total_segments, part.sar.total_segments),
            tlv.Tlv.of(tlv.sar_segment_seqnum, part.sar.segment_seqnum),
        )
    return ()
