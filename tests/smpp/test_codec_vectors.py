"""Hand-made wire vectors for every PDU of SMPP 3.4 §4.

Each vector is written from the spec's tables, one line per header field / mandatory parameter /
TLV, so a reader can check it against SMPP 3.4 §3.2 (header), §4.x (bodies) and §5.3.2 (TLVs).
None of the expected bytes come from ``encode``: the tests compare the codec against them in
both directions, and through the streaming :class:`PduDecoder` fed in every way a socket can.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mesiji.smpp import tlv
from mesiji.smpp.codec import PduDecoder, decode, encode
from mesiji.smpp.constants import (
    CommandStatus,
    EsmClass,
    MessageState,
    Npi,
    RegisteredDelivery,
    Ton,
)
from mesiji.smpp.fields import DistributionList, SmeAddress, UnsuccessSme
from mesiji.smpp.pdus import (
    PDU_CLASSES,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    ReplaceSmResp,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from mesiji.smpp.tlv import Tlv
from mesiji.text.coding import DataCoding


def _hex(*parts: str) -> bytes:
    """Join hex fragments (spaces allowed inside a fragment) into bytes."""
    return bytes.fromhex("".join(parts).replace(" ", ""))


@dataclass(frozen=True)
class Vector:
    name: str
    data: bytes
    pdu: Pdu


# Georgian "გამარჯობა" (hello) in UCS-2 big-endian (data_coding 0x08, SMPP 3.4 §5.2.19).
GEORGIAN_UCS2 = "გამარჯობა".encode("utf-16-be")
# GSM 03.40 §9.2.3.24.1 concatenation UDH: UDHL 5, IEI 00, IEDL 3, ref 0x2A, 2 parts, part 1.
CONCAT_UDH = bytes.fromhex("050003 2a 02 01".replace(" ", ""))

VECTORS: tuple[Vector, ...] = (
    # --- SMPP 3.4 §4.1.1 bind_transmitter -----------------------------------------------
    Vector(
        "bind_transmitter",
        _hex(
            "00000023",  # command_length 35
            "00000002",  # command_id bind_transmitter
            "00000000",  # command_status
            "00000001",  # sequence_number 1
            "6d 65 73 69 6a 69 00",  # system_id "mesiji"
            "73 65 63 72 65 74 00",  # password "secret"
            "00",  # system_type ""
            "34",  # interface_version 0x34
            "00",  # addr_ton
            "00",  # addr_npi
            "00",  # address_range ""
        ),
        BindTransmitter(sequence_number=1, system_id="mesiji", password="secret"),
    ),
    # --- SMPP 3.4 §4.1.2 bind_transmitter_resp ------------------------------------------
    Vector(
        "bind_transmitter_resp",
        _hex(
            "00000015",  # command_length 21
            "80000002",  # command_id bind_transmitter_resp
            "00000000",  # command_status ESME_ROK
            "00000001",  # sequence_number 1
            "53 4d 53 43 00",  # system_id "SMSC"
        ),
        BindTransmitterResp(sequence_number=1, system_id="SMSC"),
    ),
    # --- SMPP 3.4 §4.1.3 bind_receiver ---------------------------------------------------
    Vector(
        "bind_receiver",
        _hex(
            "00000022",  # command_length 34
            "00000001",  # command_id bind_receiver
            "00000000",  # command_status
            "00000002",  # sequence_number 2
            "72 78 00",  # system_id "rx"
            "70 77 00",  # password "pw"
            "56 4d 53 00",  # system_type "VMS"
            "34",  # interface_version 0x34
            "01",  # addr_ton international
            "01",  # addr_npi ISDN
            "5e 39 39 35 00",  # address_range "^995"
        ),
        BindReceiver(
            sequence_number=2,
            system_id="rx",
            password="pw",
            system_type="VMS",
            addr_ton=Ton.international,
            addr_npi=Npi.isdn,
            address_range="^995",
        ),
    ),
    # --- SMPP 3.4 §4.1.4 bind_receiver_resp, with the sc_interface_version TLV -----------
    Vector(
        "bind_receiver_resp",
        _hex(
            "0000001a",  # command_length 26
            "80000001",  # command_id bind_receiver_resp
            "00000000",  # command_status ESME_ROK
            "00000002",  # sequence_number 2
            "53 4d 53 43 00",  # system_id "SMSC"
            "0210 0001 34",  # TLV sc_interface_version (§5.3.2.25) = 0x34
        ),
        BindReceiverResp(
            sequence_number=2,
            system_id="SMSC",
            tlvs=(Tlv.of(tlv.sc_interface_version, 0x34),),
        ),
    ),
    # --- SMPP 3.4 §4.1.5 bind_transceiver ------------------------------------------------
    Vector(
        "bind_transceiver",
        _hex(
            "00000027",  # command_length 39
            "00000009",  # command_id bind_transceiver
            "00000000",  # command_status
            "00000003",  # sequence_number 3
            "6d 65 73 69 6a 69 00",  # system_id "mesiji"
            "73 33 63 72 33 74 00",  # password "s3cr3t"
            "53 4d 50 50 00",  # system_type "SMPP"
            "34",  # interface_version 0x34
            "00",  # addr_ton
            "00",  # addr_npi
            "00",  # address_range ""
        ),
        BindTransceiver(
            sequence_number=3, system_id="mesiji", password="s3cr3t", system_type="SMPP"
        ),
    ),
    # --- SMPP 3.4 §4.1.6 bind_transceiver_resp -------------------------------------------
    Vector(
        "bind_transceiver_resp",
        _hex(
            "00000015",  # command_length 21
            "80000009",  # command_id bind_transceiver_resp
            "00000000",  # command_status ESME_ROK
            "00000003",  # sequence_number 3
            "53 4d 53 43 00",  # system_id "SMSC"
        ),
        BindTransceiverResp(sequence_number=3, system_id="SMSC"),
    ),
    # --- SMPP 3.4 §4.1.7 outbind ---------------------------------------------------------
    Vector(
        "outbind",
        _hex(
            "00000018",  # command_length 24
            "0000000b",  # command_id outbind
            "00000000",  # command_status
            "00000004",  # sequence_number 4
            "53 4d 53 43 00",  # system_id "SMSC"
            "70 77 00",  # password "pw"
        ),
        Outbind(sequence_number=4, system_id="SMSC", password="pw"),
    ),
    # --- SMPP 3.4 §4.2.1 unbind / §4.2.2 unbind_resp: header only ------------------------
    Vector(
        "unbind",
        _hex(
            "00000010",  # command_length 16
            "00000006",  # command_id unbind
            "00000000",  # command_status
            "00000005",  # sequence_number 5
        ),
        Unbind(sequence_number=5),
    ),
    Vector(
        "unbind_resp",
        _hex(
            "00000010",  # command_length 16
            "80000006",  # command_id unbind_resp
            "00000000",  # command_status ESME_ROK
            "00000005",  # sequence_number 5
        ),
        UnbindResp(sequence_number=5),
    ),
    # --- SMPP 3.4 §4.11.1 enquire_link / §4.11.2 enquire_link_resp -----------------------
    Vector(
        "enquire_link",
        # The classic one, as seen in every SMPP trace.
        _hex("00000010000000150000000000000006"),
        EnquireLink(sequence_number=6),
    ),
    Vector(
        "enquire_link_resp",
        _hex(
            "00000010",  # command_length 16
            "80000015",  # command_id enquire_link_resp
            "00000000",  # command_status ESME_ROK
            "00000006",  # sequence_number 6
        ),
        EnquireLinkResp(sequence_number=6),
    ),
    # --- SMPP 3.4 §4.3.1 generic_nack ----------------------------------------------------
    Vector(
        "generic_nack",
        _hex(
            "00000010",  # command_length 16
            "80000000",  # command_id generic_nack
            "00000003",  # command_status ESME_RINVCMDID
            "00000007",  # sequence_number 7
        ),
        GenericNack(sequence_number=7, command_status=CommandStatus.ESME_RINVCMDID),
    ),
    # --- SMPP 3.4 §4.4.1 submit_sm: UCS-2 Georgian text behind a UDH ---------------------
    Vector(
        "submit_sm_ucs2_udh",
        _hex(
            "0000004b",  # command_length 75
            "00000004",  # command_id submit_sm
            "00000000",  # command_status
            "00000008",  # sequence_number 8
            "00",  # service_type ""
            "05",  # source_addr_ton alphanumeric
            "00",  # source_addr_npi unknown
            "4d 65 73 69 6a 69 00",  # source_addr "Mesiji"
            "01",  # dest_addr_ton international
            "01",  # dest_addr_npi ISDN
            "39 39 35 35 39 39 31 32 33 34 35 36 00",  # destination_addr "995599123456"
            "40",  # esm_class: UDHI (§5.2.12 bit 6)
            "00",  # protocol_id
            "00",  # priority_flag
            "00",  # schedule_delivery_time ""
            "00",  # validity_period ""
            "01",  # registered_delivery: receipt on success and failure
            "00",  # replace_if_present_flag
            "08",  # data_coding UCS-2
            "00",  # sm_default_msg_id
            "18",  # sm_length 24
            "05 00 03 2a 02 01",  # short_message: UDH (concatenation, ref 0x2A, 1 of 2)
            "10d2 10d0 10db 10d0 10e0 10ef 10dd 10d1 10d0",  # ... "გამარჯობა" in UCS-2
        ),
        SubmitSm(
            sequence_number=8,
            source_addr_ton=Ton.alphanumeric,
            source_addr="Mesiji",
            dest_addr_ton=Ton.international,
            dest_addr_npi=Npi.isdn,
            destination_addr="995599123456",
            esm_class=EsmClass.udhi,
            registered_delivery=RegisteredDelivery.receipt_always,
            data_coding=DataCoding.ucs2,
            short_message=CONCAT_UDH + GEORGIAN_UCS2,
        ),
    ),
    # --- SMPP 3.4 §4.4.2 submit_sm_resp --------------------------------------------------
    Vector(
        "submit_sm_resp",
        _hex(
            "00000017",  # command_length 23
            "80000004",  # command_id submit_sm_resp
            "00000000",  # command_status ESME_ROK
            "00000008",  # sequence_number 8
            "30 41 33 46 39 42 00",  # message_id "0A3F9B"
        ),
        SubmitSmResp(sequence_number=8, message_id="0A3F9B"),
    ),
    # SMPP 3.4 §4.4.2: "The submit_sm_resp PDU Body is not returned if the command_status
    # field contains a non-zero value": an error response is the bare header.
    Vector(
        "submit_sm_resp_throttled_empty_body",
        _hex(
            "00000010",  # command_length 16: no body at all
            "80000004",  # command_id submit_sm_resp
            "00000058",  # command_status ESME_RTHROTTLED
            "00000009",  # sequence_number 9
        ),
        SubmitSmResp(sequence_number=9, command_status=CommandStatus.ESME_RTHROTTLED),
    ),
    # --- SMPP 3.4 §4.6.1 deliver_sm: a delivery receipt (§2.11, §5.2.12 esm_class 0x04) ---
    Vector(
        "deliver_sm_receipt",
        _hex(
            "00000061",  # command_length 97
            "00000005",  # command_id deliver_sm
            "00000000",  # command_status
            "0000000a",  # sequence_number 10
            "00",  # service_type ""
            "01",  # source_addr_ton international
            "01",  # source_addr_npi ISDN
            "39 39 35 35 39 39 31 32 33 34 35 36 00",  # source_addr "995599123456"
            "05",  # dest_addr_ton alphanumeric
            "00",  # dest_addr_npi unknown
            "4d 65 73 69 6a 69 00",  # destination_addr "Mesiji"
            "04",  # esm_class: SMSC delivery receipt
            "00",  # protocol_id
            "00",  # priority_flag
            "00",  # schedule_delivery_time ""
            "00",  # validity_period ""
            "00",  # registered_delivery
            "00",  # replace_if_present_flag
            "00",  # data_coding SMSC default
            "00",  # sm_default_msg_id
            "1e",  # sm_length 30
            "69 64 3a 30 41 33 46 39 42 20",  # short_message "id:0A3F9B "
            "73 74 61 74 3a 44 45 4c 49 56 52 44 20",  # ... "stat:DELIVRD "
            "65 72 72 3a 30 30 30",  # ... "err:000"
            "001e 0007 30 41 33 46 39 42 00",  # TLV receipted_message_id (§5.3.2.12) "0A3F9B"
            "0427 0001 02",  # TLV message_state (§5.3.2.35) DELIVERED
        ),
        DeliverSm(
            sequence_number=10,
            source_addr_ton=Ton.international,
            source_addr_npi=Npi.isdn,
            source_addr="995599123456",
            dest_addr_ton=Ton.alphanumeric,
            destination_addr="Mesiji",
            esm_class=EsmClass.smsc_delivery_receipt,
            short_message=b"id:0A3F9B stat:DELIVRD err:000",
            tlvs=(
                Tlv.of(tlv.receipted_message_id, "0A3F9B"),
                Tlv.of(tlv.message_state, MessageState.DELIVERED),
            ),
        ),
    ),
    # --- SMPP 3.4 §4.6.2 deliver_sm_resp: message_id unused, a lone NULL ------------------
    Vector(
        "deliver_sm_resp",
        _hex(
            "00000011",  # command_length 17
            "80000005",  # command_id deliver_sm_resp
            "00000000",  # command_status ESME_ROK
            "0000000a",  # sequence_number 10
            "00",  # message_id ""
        ),
        DeliverSmResp(sequence_number=10),
    ),
    # --- SMPP 3.4 §4.5.1 submit_multi: one SME address and one distribution list ----------
    Vector(
        "submit_multi",
        _hex(
            "0000003e",  # command_length 62
            "00000021",  # command_id submit_multi
            "00000000",  # command_status
            "0000000b",  # sequence_number 11
            "00",  # service_type ""
            "05",  # source_addr_ton alphanumeric
            "00",  # source_addr_npi unknown
            "4d 65 73 69 6a 69 00",  # source_addr "Mesiji"
            "02",  # number_of_dests 2
            "01",  # dest_address[0].dest_flag: SME address (§4.5.1.1)
            "01",  # ... dest_addr_ton international
            "01",  # ... dest_addr_npi ISDN
            "39 39 35 35 39 39 31 32 33 34 35 36 00",  # ... destination_addr "995599123456"
            "02",  # dest_address[1].dest_flag: distribution list (§4.5.1.2)
            "73 74 61 66 66 00",  # ... dl_name "staff"
            "00",  # esm_class
            "00",  # protocol_id
            "00",  # priority_flag
            "00",  # schedule_delivery_time ""
            "00",  # validity_period ""
            "00",  # registered_delivery
            "00",  # replace_if_present_flag
            "00",  # data_coding
            "00",  # sm_default_msg_id
            "02",  # sm_length 2
            "48 69",  # short_message "Hi"
        ),
        SubmitMulti(
            sequence_number=11,
            source_addr_ton=Ton.alphanumeric,
            source_addr="Mesiji",
            dest_address=(
                SmeAddress(Ton.international, Npi.isdn, "995599123456"),
                DistributionList("staff"),
            ),
            short_message=b"Hi",
        ),
    ),
    # --- SMPP 3.4 §4.5.2 submit_multi_resp with two unsuccess_sme entries -----------------
    Vector(
        "submit_multi_resp",
        _hex(
            "0000003c",  # command_length 60
            "80000021",  # command_id submit_multi_resp
            "00000000",  # command_status ESME_ROK
            "0000000b",  # sequence_number 11
            "4d 4d 30 31 00",  # message_id "MM01"
            "02",  # no_unsuccess 2
            "01",  # unsuccess_sme[0].dest_addr_ton international
            "01",  # ... dest_addr_npi ISDN
            "39 39 35 35 39 39 30 30 30 30 30 31 00",  # ... destination_addr "995599000001"
            "0000000b",  # ... error_status_code ESME_RINVDSTADR
            "01",  # unsuccess_sme[1].dest_addr_ton international
            "01",  # ... dest_addr_npi ISDN
            "39 39 35 35 39 39 30 30 30 30 30 32 00",  # ... destination_addr "995599000002"
            "00000045",  # ... error_status_code ESME_RSUBMITFAIL
        ),
        SubmitMultiResp(
            sequence_number=11,
            message_id="MM01",
            unsuccess_sme=(
                UnsuccessSme(1, 1, "995599000001", CommandStatus.ESME_RINVDSTADR),
                UnsuccessSme(1, 1, "995599000002", CommandStatus.ESME_RSUBMITFAIL),
            ),
        ),
    ),
    # --- SMPP 3.4 §4.7.1 data_sm with message_payload ------------------------------------
    Vector(
        "data_sm",
        _hex(
            "00000049",  # command_length 73
            "00000103",  # command_id data_sm
            "00000000",  # command_status
            "0000000c",  # sequence_number 12
            "57 41 50 00",  # service_type "WAP"
            "01",  # source_addr_ton international
            "01",  # source_addr_npi ISDN
            "39 39 35 35 39 39 31 32 33 34 35 36 00",  # source_addr "995599123456"
            "01",  # dest_addr_ton international
            "01",  # dest_addr_npi ISDN
            "39 39 35 35 39 39 36 35 34 33 32 31 00",  # destination_addr "995599654321"
            "00",  # esm_class
            "01",  # registered_delivery
            "04",  # data_coding octet unspecified (8-bit binary)
            "0424 000a 00 01 02 03 04 05 06 07 08 09",  # TLV message_payload (§5.3.2.32)
            "020b 0002 0b84",  # TLV destination_port (§5.3.2.21) 2948, WAP push
        ),
        DataSm(
            sequence_number=12,
            service_type="WAP",
            source_addr_ton=Ton.international,
            source_addr_npi=Npi.isdn,
            source_addr="995599123456",
            dest_addr_ton=Ton.international,
            dest_addr_npi=Npi.isdn,
            destination_addr="995599654321",
            registered_delivery=RegisteredDelivery.receipt_always,
            data_coding=DataCoding.octet_unspecified_4,
            tlvs=(
                Tlv.of(tlv.message_payload, bytes(range(10))),
                Tlv.of(tlv.destination_port, 2948),
            ),
        ),
    ),
    # --- SMPP 3.4 §4.7.2 data_sm_resp ----------------------------------------------------
    Vector(
        "data_sm_resp",
        _hex(
            "00000013",  # command_length 19
            "80000103",  # command_id data_sm_resp
            "00000000",  # command_status ESME_ROK
            "0000000c",  # sequence_number 12
            "44 31 00",  # message_id "D1"
        ),
        DataSmResp(sequence_number=12, message_id="D1"),
    ),
    # --- SMPP 3.4 §4.8.1 query_sm --------------------------------------------------------
    Vector(
        "query_sm",
        _hex(
            "00000020",  # command_length 32
            "00000003",  # command_id query_sm
            "00000000",  # command_status
            "0000000d",  # sequence_number 13
            "30 41 33 46 39 42 00",  # message_id "0A3F9B"
            "05",  # source_addr_ton alphanumeric
            "00",  # source_addr_npi unknown
            "4d 65 73 69 6a 69 00",  # source_addr "Mesiji"
        ),
        QuerySm(
            sequence_number=13,
            message_id="0A3F9B",
            source_addr_ton=Ton.alphanumeric,
            source_addr="Mesiji",
        ),
    ),
    # --- SMPP 3.4 §4.8.2 query_sm_resp ---------------------------------------------------
    Vector(
        "query_sm_resp",
        _hex(
            "0000002a",  # command_length 42
            "80000003",  # command_id query_sm_resp
            "00000000",  # command_status ESME_ROK
            "0000000d",  # sequence_number 13
            "30 41 33 46 39 42 00",  # message_id "0A3F9B"
            # final_date "240115120100004+" (§7.1.1 absolute time: 2024-01-15 12:01:00.0,
            # UTC+01:00 as 04 quarter hours ahead)
            "32 34 30 31 31 35 31 32 30 31 30 30 30 30 34 2b 00",
            "02",  # message_state DELIVERED (§5.2.28)
            "00",  # error_code
        ),
        QuerySmResp(
            sequence_number=13,
            message_id="0A3F9B",
            final_date="240115120100004+",
            message_state=MessageState.DELIVERED,
        ),
    ),
    # --- SMPP 3.4 §4.9.1 cancel_sm / §4.9.2 cancel_sm_resp -------------------------------
    Vector(
        "cancel_sm",
        _hex(
            "00000030",  # command_length 48
            "00000008",  # command_id cancel_sm
            "00000000",  # command_status
            "0000000e",  # sequence_number 14
            "00",  # service_type ""
            "30 41 33 46 39 42 00",  # message_id "0A3F9B"
            "05",  # source_addr_ton alphanumeric
            "00",  # source_addr_npi unknown
            "4d 65 73 69 6a 69 00",  # source_addr "Mesiji"
            "01",  # dest_addr_ton international
            "01",  # dest_addr_npi ISDN
            "39 39 35 35 39 39 31 32 33 34 35 36 00",  # destination_addr "995599123456"
        ),
        CancelSm(
            sequence_number=14,
            message_id="0A3F9B",
            source_addr_ton=Ton.alphanumeric,
            source_addr="Mesiji",
            dest_addr_ton=Ton.international,
            dest_addr_npi=Npi.isdn,
            destination_addr="995599123456",
        ),
    ),
    Vector(
        "cancel_sm_resp",
        _hex(
            "00000010",  # command_length 16
            "80000008",  # command_id cancel_sm_resp
            "00000000",  # command_status ESME_ROK
            "0000000e",  # sequence_number 14
        ),
        CancelSmResp(sequence_number=14),
    ),
    # --- SMPP 3.4 §4.10.1 replace_sm / §4.10.2 replace_sm_resp ---------------------------
    Vector(
        "replace_sm",
        _hex(
            "00000038",  # command_length 56
            "00000007",  # command_id replace_sm
            "00000000",  # command_status
            "0000000f",  # sequence_number 15
            "30 41 33 46 39 42 00",  # message_id "0A3F9B"
            "05",  # source_addr_ton alphanumeric
            "00",  # source_addr_npi unknown
            "4d 65 73 69 6a 69 00",  # source_addr "Mesiji"
            # schedule_delivery_time "000000001000000R" (§7.1.2 relative time: 10 minutes)
            "30 30 30 30 30 30 30 30 31 30 30 30 30 30 30 52 00",
            "00",  # validity_period ""
            "01",  # registered_delivery
            "00",  # sm_default_msg_id
            "03",  # sm_length 3
            "4e 65 77",  # short_message "New"
        ),
        ReplaceSm(
            sequence_number=15,
            message_id="0A3F9B",
            source_addr_ton=Ton.alphanumeric,
            source_addr="Mesiji",
            schedule_delivery_time="000000001000000R",
            registered_delivery=RegisteredDelivery.receipt_always,
            short_message=b"New",
        ),
    ),
    Vector(
        "replace_sm_resp",
        _hex(
            "00000010",  # command_length 16
            "80000007",  # command_id replace_sm_resp
            "00000000",  # command_status ESME_ROK
            "0000000f",  # sequence_number 15
        ),
        ReplaceSmResp(sequence_number=15),
    ),
    # --- SMPP 3.4 §4.12.1 alert_notification with ms_availability_status -----------------
    Vector(
        "alert_notification",
        _hex(
            "0000002d",  # command_length 45
            "00000102",  # command_id alert_notification
            "00000000",  # command_status
            "00000010",  # sequence_number 16
            "01",  # source_addr_ton international
            "01",  # source_addr_npi ISDN
            "39 39 35 35 39 39 31 32 33 34 35 36 00",  # source_addr "995599123456"
            "05",  # esme_addr_ton alphanumeric
            "00",  # esme_addr_npi unknown
            "4d 65 73 69 6a 69 00",  # esme_addr "Mesiji"
            "0422 0001 00",  # TLV ms_availability_status (§5.3.2.30) 0 = Available
        ),
        AlertNotification(
            sequence_number=16,
            source_addr_ton=Ton.international,
            source_addr_npi=Npi.isdn,
            source_addr="995599123456",
            esme_addr_ton=Ton.alphanumeric,
            esme_addr="Mesiji",
            tlvs=(Tlv.of(tlv.ms_availability_status, 0),),
        ),
    ),
    # --- An unknown vendor TLV (§3.2.1.6, §5.3.2: 0x1400-0x3FFF is vendor specific) -------
    # It must come back as raw bytes and re-encode in place, before the known one.
    Vector(
        "submit_sm_vendor_tlv",
        _hex(
            "00000040",  # command_length 64
            "00000004",  # command_id submit_sm
            "00000000",  # command_status
            "00000011",  # sequence_number 17
            "00",  # service_type ""
            "00",  # source_addr_ton
            "00",  # source_addr_npi
            "00",  # source_addr ""
            "01",  # dest_addr_ton international
            "01",  # dest_addr_npi ISDN
            "39 39 35 35 39 39 31 32 33 34 35 36 00",  # destination_addr "995599123456"
            "00",  # esm_class
            "00",  # protocol_id
            "00",  # priority_flag
            "00",  # schedule_delivery_time ""
            "00",  # validity_period ""
            "00",  # registered_delivery
            "00",  # replace_if_present_flag
            "03",  # data_coding Latin-1
            "00",  # sm_default_msg_id
            "05",  # sm_length 5
            "48 65 6c 6c 6f",  # short_message "Hello"
            "1401 0004 de ad be ef",  # TLV 0x1401 (vendor), 4 octets
            "0204 0002 002a",  # TLV user_message_reference (§5.3.2.17) 42
        ),
        SubmitSm(
            sequence_number=17,
            dest_addr_ton=Ton.international,
            dest_addr_npi=Npi.isdn,
            destination_addr="995599123456",
            data_coding=DataCoding.latin1,
            short_message=b"Hello",
            tlvs=(
                Tlv(0x1401, b"\xde\xad\xbe\xef"),
                Tlv.of(tlv.user_message_reference, 42),
            ),
        ),
    ),
)

IDS = [v.name for v in VECTORS]


def _drain(decoder: PduDecoder) -> list[Pdu]:
    out: list[Pdu] = []
    while (pdu := decoder.next_pdu()) is not None:
        out.append(pdu)
    return out


# --- the vectors themselves ------------------------------------------------------------


def test_every_pdu_class_has_a_vector() -> None:
    covered = {type(v.pdu) for v in VECTORS}
    assert covered == set(PDU_CLASSES.values())
    assert len(PDU_CLASSES) == 27


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_header_is_consistent(vector: Vector) -> None:
    """Guards the hand-written hex: command_length and command_id agree with the PDU (§3.2)."""
    assert int.from_bytes(vector.data[0:4], "big") == len(vector.data)
    assert int.from_bytes(vector.data[4:8], "big") == vector.pdu.command_id
    assert int.from_bytes(vector.data[8:12], "big") == vector.pdu.command_status
    assert int.from_bytes(vector.data[12:16], "big") == vector.pdu.sequence_number


def test_georgian_ucs2_is_what_the_vector_spells() -> None:
    assert _hex("10d2 10d0 10db 10d0 10e0 10ef 10dd 10d1 10d0") == GEORGIAN_UCS2
    assert len(CONCAT_UDH) == 6


# --- decode and encode -----------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_decode(vector: Vector) -> None:
    pdu = decode(vector.data)
    assert type(pdu) is type(vector.pdu)
    assert pdu == vector.pdu


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_encode(vector: Vector) -> None:
    assert encode(vector.pdu).hex() == vector.data.hex()


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_decode_accepts_bytearray(vector: Vector) -> None:
    assert decode(bytearray(vector.data)) == vector.pdu


# --- the streaming decoder -------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_stream_whole(vector: Vector) -> None:
    decoder = PduDecoder()
    decoder.feed(vector.data)
    assert decoder.next_pdu() == vector.pdu
    assert decoder.next_pdu() is None
    assert decoder.buffered == 0


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_stream_byte_by_byte(vector: Vector) -> None:
    decoder = PduDecoder()
    for i in range(len(vector.data) - 1):
        decoder.feed(vector.data[i : i + 1])
        assert decoder.next_pdu() is None, f"a PDU came out after {i + 1} octets"
    decoder.feed(vector.data[-1:])
    assert decoder.next_pdu() == vector.pdu
    assert decoder.next_pdu() is None
    assert decoder.buffered == 0


@pytest.mark.parametrize("index", range(len(VECTORS)), ids=IDS)
def test_stream_with_trailing_half_pdu(index: int) -> None:
    vector = VECTORS[index]
    following = VECTORS[(index + 1) % len(VECTORS)]
    half = len(following.data) // 2
    decoder = PduDecoder()
    decoder.feed(vector.data + following.data[:half])
    assert decoder.next_pdu() == vector.pdu
    assert decoder.next_pdu() is None
    assert decoder.buffered == half
    decoder.feed(following.data[half:])
    assert decoder.next_pdu() == following.pdu
    assert decoder.next_pdu() is None
    assert decoder.buffered == 0


def test_stream_all_vectors_in_one_feed() -> None:
    decoder = PduDecoder()
    decoder.feed(b"".join(v.data for v in VECTORS))
    assert _drain(decoder) == [v.pdu for v in VECTORS]
    assert decoder.buffered == 0


def test_stream_all_vectors_in_odd_chunks() -> None:
    stream = b"".join(v.data for v in VECTORS) * 3
    decoder = PduDecoder()
    got: list[Pdu] = []
    for start in range(0, len(stream), 7):
        decoder.feed(memoryview(stream)[start : start + 7])
        got.extend(_drain(decoder))
    assert got == [v.pdu for v in VECTORS] * 3
    assert decoder.buffered == 0


# --- what the vectors say about typed access -------------------------------------------


def test_receipt_tlvs_are_typed() -> None:
    receipt = decode(_vector("deliver_sm_receipt").data)
    assert receipt.tlv(tlv.receipted_message_id) == "0A3F9B"
    assert receipt.tlv(tlv.message_state) == MessageState.DELIVERED
    assert receipt.tlv(tlv.network_error_code) is None
    assert [item.name for item in receipt.tlvs] == ["receipted_message_id", "message_state"]


def test_vendor_tlv_is_kept_raw_and_in_order() -> None:
    pdu = decode(_vector("submit_sm_vendor_tlv").data)
    assert pdu.tlvs == (Tlv(0x1401, b"\xde\xad\xbe\xef"), Tlv(0x0204, 42))
    assert pdu.tlvs[0].name == "tlv_0x1401"
    assert encode(pdu) == _vector("submit_sm_vendor_tlv").data


def test_submit_sm_ucs2_udh_content() -> None:
    pdu = decode(_vector("submit_sm_ucs2_udh").data)
    assert isinstance(pdu, SubmitSm)
    assert pdu.sm_length == 24
    assert pdu.esm_class & EsmClass.udhi
    assert pdu.short_message[: pdu.short_message[0] + 1] == CONCAT_UDH
    assert pdu.short_message[6:].decode("utf-16-be") == "გამარჯობა"


def test_empty_body_error_response_decodes_with_defaults() -> None:
    pdu = decode(_vector("submit_sm_resp_throttled_empty_body").data)
    assert isinstance(pdu, SubmitSmResp)
    assert pdu.command_status == CommandStatus.ESME_RTHROTTLED
    assert pdu.message_id == ""
    assert pdu.tlvs == ()


def _vector(name: str) -> Vector:
    (found,) = [v for v in VECTORS if v.name == name]
    return found
