"""Malformed input to the SMPP 3.4 codec, and values it must refuse to encode.

Every failure is a :class:`PduError` whose ``command_status`` is the code SMPP 3.4 §5.1.3 gives
for it, with ``command_id`` / ``sequence_number`` set whenever the header was readable, so that
a session can answer with the right generic_nack or error response (§3.3, §4.3).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from mesiji.errors import PduError
from mesiji.smpp import tlv
from mesiji.smpp.codec import DEFAULT_MAX_COMMAND_LENGTH, PduDecoder, decode, encode
from mesiji.smpp.constants import CommandId, CommandStatus
from mesiji.smpp.fields import DistributionList, SmeAddress, UnsuccessSme
from mesiji.smpp.pdus import (
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    Pdu,
    QuerySmResp,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
)
from mesiji.smpp.tlv import Tlv

S = CommandStatus

#: SMPP 3.4 §4.11.1: the enquire_link every trace starts with (sequence_number 6).
ENQUIRE_LINK = bytes.fromhex("00000010000000150000000000000006")


def _pdu(command_id: int, body: bytes, sequence_number: int = 0x2A, status: int = 0) -> bytes:
    """A PDU with a correct header around ``body`` (SMPP 3.4 §3.2)."""
    return b"".join(
        (
            (16 + len(body)).to_bytes(4, "big"),
            command_id.to_bytes(4, "big"),
            status.to_bytes(4, "big"),
            sequence_number.to_bytes(4, "big"),
            body,
        )
    )


def _header(command_length: int, command_id: int = 0x15, sequence_number: int = 0x2A) -> bytes:
    return b"".join(
        (
            command_length.to_bytes(4, "big"),
            command_id.to_bytes(4, "big"),
            bytes(4),
            sequence_number.to_bytes(4, "big"),
        )
    )


def _c(text: str) -> bytes:
    """A C-Octet String (SMPP 3.4 §3.1): the octets and a NULL."""
    return text.encode("latin-1") + b"\x00"


def _submit_sm_body(
    *,
    service_type: bytes = b"\x00",
    source_addr: bytes = b"Mesiji\x00",
    destination_addr: bytes = b"995599123456\x00",
    schedule_delivery_time: bytes = b"\x00",
    validity_period: bytes = b"\x00",
    short_message: bytes = b"\x02Hi",
    tlvs: bytes = b"",
) -> bytes:
    """The body of a submit_sm (SMPP 3.4 §4.4.1) with the given raw fields."""
    return b"".join(
        (
            service_type,
            b"\x05\x00",  # source_addr_ton, source_addr_npi
            source_addr,
            b"\x01\x01",  # dest_addr_ton, dest_addr_npi
            destination_addr,
            b"\x00\x00\x00",  # esm_class, protocol_id, priority_flag
            schedule_delivery_time,
            validity_period,
            b"\x00\x00\x00\x00",  # registered_delivery, replace_if_present, data_coding, msg_id
            short_message,  # sm_length and short_message
            tlvs,
        )
    )


def _bind_body(system_id: bytes = b"mesiji\x00", password: bytes = b"secret\x00") -> bytes:
    """The body of a bind (SMPP 3.4 §4.1.1)."""
    return system_id + password + b"\x00" + b"\x34\x00\x00" + b"\x00"


def _decode_error(data: bytes) -> PduError:
    with pytest.raises(PduError) as info:
        decode(data)
    return info.value


def _assert_error_then_enquire_link(data: bytes, status: int) -> PduError:
    """``data`` fails with ``status``, and a decoder fed it goes on with the next PDU."""
    decoder = PduDecoder()
    decoder.feed(data + ENQUIRE_LINK)
    with pytest.raises(PduError) as info:
        decoder.next_pdu()
    assert info.value.command_status == status, str(info.value)
    assert decoder.next_pdu() == EnquireLink(sequence_number=6)
    assert decoder.next_pdu() is None
    assert decoder.buffered == 0
    return info.value


# --- command_length (SMPP 3.4 §3.2: the stream cannot be resynchronised) ---------------


@pytest.mark.parametrize("command_length", [0, 1, 8, 15])
def test_command_length_below_header_fails_the_decoder(command_length: int) -> None:
    decoder = PduDecoder()
    decoder.feed(_header(command_length))
    with pytest.raises(PduError) as first:
        decoder.next_pdu()
    assert first.value.command_status == S.ESME_RINVCMDLEN
    assert first.value.command_id == CommandId.enquire_link
    assert first.value.sequence_number == 0x2A
    # The boundaries are lost: the decoder stays failed, whatever arrives afterwards.
    decoder.feed(ENQUIRE_LINK)
    for _ in range(3):
        with pytest.raises(PduError) as again:
            decoder.next_pdu()
        assert again.value.command_status == S.ESME_RINVCMDLEN


@pytest.mark.parametrize("command_length", [DEFAULT_MAX_COMMAND_LENGTH + 1, 0x7FFFFFFF, 0xFFFFFFFF])
def test_command_length_over_the_maximum_fails_at_once(command_length: int) -> None:
    decoder = PduDecoder()
    # Only the header has arrived: the decoder must not wait for gigabytes of body.
    decoder.feed(_header(command_length, CommandId.submit_sm, 0x77))
    with pytest.raises(PduError) as first:
        decoder.next_pdu()
    assert first.value.command_status == S.ESME_RINVCMDLEN
    assert first.value.command_id == CommandId.submit_sm
    assert first.value.sequence_number == 0x77
    decoder.feed(bytes(64) + ENQUIRE_LINK)
    with pytest.raises(PduError) as again:
        decoder.next_pdu()
    assert again.value.command_status == S.ESME_RINVCMDLEN


def test_max_command_length_is_inclusive() -> None:
    # enquire_link with one 44-octet vendor TLV: 16 + 4 + 44 = 64 octets.
    data = _pdu(CommandId.enquire_link, bytes.fromhex("1500002c") + bytes(44), 9)
    assert len(data) == 64
    decoder = PduDecoder(max_command_length=64)
    decoder.feed(data[:16])
    assert decoder.next_pdu() is None
    decoder.feed(data[16:])
    assert decoder.next_pdu() == EnquireLink(sequence_number=9, tlvs=(Tlv(0x1500, bytes(44)),))

    small = PduDecoder(max_command_length=63)
    small.feed(data[:16])
    with pytest.raises(PduError) as info:
        small.next_pdu()
    assert info.value.command_status == S.ESME_RINVCMDLEN


def test_decode_wants_exactly_one_pdu() -> None:
    assert _decode_error(b"").command_status == S.ESME_RINVCMDLEN
    assert _decode_error(ENQUIRE_LINK[:15]).command_status == S.ESME_RINVCMDLEN
    assert _decode_error(ENQUIRE_LINK + b"\x00").command_status == S.ESME_RINVCMDLEN
    assert _decode_error(ENQUIRE_LINK * 2).command_status == S.ESME_RINVCMDLEN
    assert _decode_error(_header(12)).command_status == S.ESME_RINVCMDLEN


# --- command_id (SMPP 3.4 §5.1.2) ------------------------------------------------------


@pytest.mark.parametrize(
    ("command_id", "body"),
    [
        (0x00000099, b""),
        (0x0000000A, b""),  # reserved between bind_transceiver_resp and outbind
        (0x80000099, b"\x01\x02\x03\x04"),
        (0x80000102, b""),  # alert_notification has no response
        (0x00000104, b"some body the decoder must skip"),
        (0xFFFFFFFF, b"\x00"),
    ],
)
def test_unknown_command_id_is_reported_and_skipped(command_id: int, body: bytes) -> None:
    error = _assert_error_then_enquire_link(_pdu(command_id, body, 0x1234), S.ESME_RINVCMDID)
    assert error.command_id == command_id
    assert error.sequence_number == 0x1234


# --- over-long C-Octet Strings (SMPP 3.4 §3.1, field sizes of §4) ----------------------


def test_system_id_of_16_characters_is_rejected() -> None:
    # §4.1.1: system_id is at most 16 octets including its NULL.
    body = _bind_body(system_id=_c("ABCDEFGHIJKLMNOP"))
    error = _assert_error_then_enquire_link(
        _pdu(CommandId.bind_transmitter, body), S.ESME_RINVSYSID
    )
    assert error.command_id == CommandId.bind_transmitter
    assert error.sequence_number == 0x2A


def test_system_id_without_any_null_is_rejected() -> None:
    body = b"X" * 40
    error = _decode_error(_pdu(CommandId.bind_transceiver, body))
    assert error.command_status == S.ESME_RINVSYSID


def test_system_id_of_15_characters_is_accepted() -> None:
    pdu = decode(_pdu(CommandId.bind_transmitter, _bind_body(system_id=_c("A" * 15))))
    assert pdu == BindTransmitter(sequence_number=0x2A, system_id="A" * 15, password="secret")


def test_system_id_too_long_in_bind_resp() -> None:
    error = _decode_error(_pdu(CommandId.bind_transceiver_resp, _c("S" * 16)))
    assert error.command_status == S.ESME_RINVSYSID
    assert error.command_id == CommandId.bind_transceiver_resp


def test_password_of_9_characters_is_rejected() -> None:
    body = _bind_body(password=_c("123456789"))
    assert _decode_error(_pdu(CommandId.bind_receiver, body)).command_status == S.ESME_RINVPASWD


def test_source_addr_of_21_characters_is_rejected() -> None:
    # §4.4.1: source_addr is at most 21 octets including its NULL.
    body = _submit_sm_body(source_addr=_c("1" * 21))
    error = _assert_error_then_enquire_link(_pdu(CommandId.submit_sm, body), S.ESME_RINVSRCADR)
    assert error.command_id == CommandId.submit_sm


def test_source_addr_of_20_characters_is_accepted() -> None:
    pdu = decode(_pdu(CommandId.submit_sm, _submit_sm_body(source_addr=_c("1" * 20))))
    assert isinstance(pdu, SubmitSm)
    assert pdu.source_addr == "1" * 20
    assert pdu.short_message == b"Hi"


def test_destination_addr_of_21_characters_is_rejected() -> None:
    body = _submit_sm_body(destination_addr=_c("9" * 21))
    _assert_error_then_enquire_link(_pdu(CommandId.submit_sm, body), S.ESME_RINVDSTADR)
    # deliver_sm has the same layout (§4.6.1).
    error = _decode_error(_pdu(CommandId.deliver_sm, body))
    assert error.command_status == S.ESME_RINVDSTADR
    assert error.command_id == CommandId.deliver_sm


def test_service_type_of_6_characters_is_rejected() -> None:
    body = _submit_sm_body(service_type=_c("ABCDEF"))
    assert _decode_error(_pdu(CommandId.submit_sm, body)).command_status == S.ESME_RINVSERTYP


def test_message_id_of_65_characters_is_rejected() -> None:
    # §4.8.1 query_sm: message_id is at most 65 octets including its NULL.
    body = _c("F" * 65) + b"\x00\x00" + _c("")
    assert _decode_error(_pdu(CommandId.query_sm, body)).command_status == S.ESME_RINVMSGID


def test_submit_multi_destination_addr_and_dl_name_too_long() -> None:
    head = b"\x00" + b"\x05\x00" + _c("Mesiji")  # service_type, source_addr_ton/npi/addr
    tail = b"\x00" * 9 + b"\x00"  # esm_class .. sm_default_msg_id, sm_length 0
    sme = b"\x01" + b"\x01\x01" + _c("9" * 21)  # §4.5.1.1, dest_flag 1
    dl = b"\x02" + _c("L" * 21)  # §4.5.1.2, dest_flag 2
    sme_error = _decode_error(_pdu(CommandId.submit_multi, head + b"\x01" + sme + tail))
    assert sme_error.command_status == S.ESME_RINVDSTADR
    dl_error = _decode_error(_pdu(CommandId.submit_multi, head + b"\x01" + dl + tail))
    assert dl_error.command_status == S.ESME_RINVDLNAME
    bad_flag = _decode_error(_pdu(CommandId.submit_multi, head + b"\x01\x03" + tail))
    assert bad_flag.command_status == S.ESME_RINVDESTFLAG


# --- a body that ends inside a field ---------------------------------------------------

#: A submit_sm body with one TLV, and where its fields start (SMPP 3.4 §4.4.1).
_FULL_BODY = _submit_sm_body(tlvs=bytes.fromhex("0204 0002 002a".replace(" ", "")))
_SM_LENGTH_AT = _FULL_BODY.index(b"\x02Hi")
_TLVS_AT = _SM_LENGTH_AT + 3


@pytest.mark.parametrize("cut", [i for i in range(len(_FULL_BODY)) if i != _TLVS_AT])
def test_truncated_submit_sm_body(cut: int) -> None:
    """The body (with a correct command_length) stops at ``cut``: each region has its error."""
    if cut <= _SM_LENGTH_AT:
        expected = S.ESME_RINVCMDLEN  # ends inside a mandatory field (or before sm_length)
    elif cut < _TLVS_AT:
        expected = S.ESME_RINVMSGLEN  # sm_length says more than there is
    else:
        expected = S.ESME_RINVOPTPARSTREAM  # ends inside the TLV
    error = _assert_error_then_enquire_link(_pdu(CommandId.submit_sm, _FULL_BODY[:cut]), expected)
    assert error.sequence_number == 0x2A
    assert error.command_id == CommandId.submit_sm


def test_truncation_at_the_tlvs_gives_the_pdu_without_them() -> None:
    pdu = decode(_pdu(CommandId.submit_sm, _FULL_BODY[:_TLVS_AT]))
    assert isinstance(pdu, SubmitSm)
    assert pdu.short_message == b"Hi"
    assert pdu.tlvs == ()


@pytest.mark.parametrize(
    ("command_id", "body"),
    [
        (CommandId.bind_transmitter, b"mesiji\x00secret\x00\x00"),  # before interface_version
        (CommandId.bind_transmitter, b"mesiji\x00secret\x00\x00\x34\x00\x00"),  # no address_range
        (CommandId.bind_receiver, b"mesiji\x00sec"),  # inside password
        (CommandId.outbind, b"SMSC\x00"),  # no password
        (CommandId.query_sm, _c("0A3F9B") + b"\x05"),  # inside source_addr_npi
        (CommandId.query_sm_resp, _c("0A3F9B") + _c("") + b"\x02"),  # no error_code
        (CommandId.submit_multi, b"\x00\x05\x00" + _c("Mesiji") + b"\x02\x01\x01\x01"),
        (CommandId.submit_multi_resp, _c("MM01") + b"\x01\x01\x01" + _c("9") + b"\x00\x00"),
        (CommandId.submit_multi_resp, _c("MM01") + b"\x02\x01\x01" + _c("9") + bytes(4)),
        (CommandId.alert_notification, b"\x01\x01" + _c("995599") + b"\x05\x00"),
        (CommandId.data_sm, b"\x00\x01\x01" + _c("1") + b"\x01\x01" + _c("2") + b"\x00\x00"),
        (CommandId.replace_sm, _c("1") + b"\x05\x00" + _c("M") + b"\x00\x00\x00\x00"),
        (CommandId.cancel_sm, b"\x00" + _c("1") + b"\x05\x00" + _c("M") + b"\x01\x01"),
    ],
)
def test_body_ending_inside_a_field(command_id: int, body: bytes) -> None:
    error = _assert_error_then_enquire_link(_pdu(command_id, body, 0x51), S.ESME_RINVCMDLEN)
    assert error.command_id == command_id
    assert error.sequence_number == 0x51


# --- sm_length (SMPP 3.4 §4.4.1: short_message is 0 to 254 octets) ---------------------


@pytest.mark.parametrize(("sm_length", "present"), [(1, 0), (10, 3), (254, 253), (255, 0)])
def test_sm_length_past_the_end(sm_length: int, present: int) -> None:
    body = _submit_sm_body(short_message=bytes([sm_length]) + b"x" * present)
    error = _assert_error_then_enquire_link(_pdu(CommandId.submit_sm, body), S.ESME_RINVMSGLEN)
    assert error.command_id == CommandId.submit_sm


def test_sm_length_past_the_end_of_replace_sm() -> None:
    body = _c("0A3F9B") + b"\x05\x00" + _c("Mesiji") + b"\x00\x00\x01\x00" + b"\x05abc"
    _assert_error_then_enquire_link(_pdu(CommandId.replace_sm, body), S.ESME_RINVMSGLEN)


def test_sm_length_of_255_is_rejected() -> None:
    # §4.4.1 allows 0-254 octets of short_message, and encode() refuses 255; the decoder must
    # not accept a PDU that cannot be re-encoded.
    body = _submit_sm_body(short_message=b"\xff" + b"x" * 255)
    _assert_error_then_enquire_link(_pdu(CommandId.submit_sm, body), S.ESME_RINVMSGLEN)


def test_sm_length_of_254_is_accepted() -> None:
    pdu = decode(_pdu(CommandId.deliver_sm, _submit_sm_body(short_message=b"\xfe" + b"y" * 254)))
    assert isinstance(pdu, DeliverSm)
    assert pdu.short_message == b"y" * 254
    assert pdu.sm_length == 254


# --- TLVs (SMPP 3.4 §3.2.1.6, §5.3) ----------------------------------------------------


@pytest.mark.parametrize("tail", ["02", "0204", "020400", "0204 0002 002a 14"])
def test_truncated_tlv_header(tail: str) -> None:
    body = _c("0A3F9B") + bytes.fromhex(tail.replace(" ", ""))
    error = _assert_error_then_enquire_link(
        _pdu(CommandId.submit_sm_resp, body), S.ESME_RINVOPTPARSTREAM
    )
    assert error.command_id == CommandId.submit_sm_resp
    assert error.sequence_number == 0x2A


@pytest.mark.parametrize(
    "tail",
    [
        "0204 0003 002a",  # user_message_reference claims 3 octets, 2 present
        "1401 0010 deadbeef",  # unknown vendor TLV claims 16 octets, 4 present
        "0424 ffff 00",  # message_payload claims 65535 octets
        "001e 0007 30 41 33 00",  # receipted_message_id cut short
    ],
)
def test_tlv_length_past_the_end(tail: str) -> None:
    body = _submit_sm_body(tlvs=bytes.fromhex(tail.replace(" ", "")))
    error = _assert_error_then_enquire_link(
        _pdu(CommandId.submit_sm, body), S.ESME_RINVOPTPARSTREAM
    )
    assert error.command_id == CommandId.submit_sm


@pytest.mark.parametrize(
    "tlv_hex",
    [
        "0427 0002 0002",  # message_state is 1 octet (§5.3.2.35)
        "0427 0000",  # ... and not 0
        "020c 0001 01",  # sar_msg_ref_num is 2 octets (§5.3.2.22)
        "0017 0002 0001",  # qos_time_to_live is 4 octets (§5.3.2.9)
        "0423 0002 0300",  # network_error_code is 3 octets (§5.3.2.31)
        "0381 0002 0000",  # callback_num is 4 to 19 octets (§5.3.2.36)
        "001e 0042" + "41" * 65 + "00",  # receipted_message_id is at most 65 (§5.3.2.12)
        "001e 0041" + "41" * 65,  # ... and without its NULL at 65 octets it is cut short
        "001e 0004 41 00 42 00",  # a C-Octet String ends at its first NULL
    ],
)
def test_known_tlv_with_a_bad_value_is_kept_malformed(tlv_hex: str) -> None:
    # An optional parameter that can be framed but breaks its spec does not make the PDU an
    # error (real SMSCs send them in receipts): it is kept as octets, unseen by get().
    raw = bytes.fromhex(tlv_hex.replace(" ", ""))
    data = _pdu(CommandId.deliver_sm, _submit_sm_body(tlvs=raw))
    decoder = PduDecoder()
    decoder.feed(data + ENQUIRE_LINK)
    pdu = decoder.next_pdu()
    assert isinstance(pdu, DeliverSm)
    assert pdu.sequence_number == 0x2A
    (item,) = pdu.tlvs
    assert item.malformed
    assert item.tag == int.from_bytes(raw[:2])
    assert item.value == raw[4:]
    spec = tlv.SPECS[item.tag]
    assert tlv.get(pdu.tlvs, spec) is None  # type: ignore[misc]  # any of the three kinds
    assert tlv.malformed(pdu.tlvs, spec) == raw[4:]
    assert encode(pdu) == data  # written back byte for byte
    assert isinstance(decoder.next_pdu(), EnquireLink)


def test_a_well_formed_tlv_beside_a_malformed_one_is_read() -> None:
    tlvs = bytes.fromhex("0427 0000 0423 0002 0300 001e 0003 4142 00".replace(" ", ""))
    pdu = decode(_pdu(CommandId.deliver_sm, _submit_sm_body(tlvs=tlvs)))
    assert pdu.tlv(tlv.receipted_message_id) == "AB"
    assert pdu.tlv(tlv.message_state) is None
    assert pdu.tlv(tlv.network_error_code) is None
    assert tlv.malformed(pdu.tlvs, tlv.network_error_code) == b"\x03\x00"
    assert tlv.malformed(pdu.tlvs, tlv.receipted_message_id) is None


def test_a_malformed_tlv_holds_octets() -> None:
    item = Tlv(tlv.message_state.tag, 2, malformed=True)
    with pytest.raises(PduError) as info:
        encode(DeliverSm(tlvs=(item,)))
    assert info.value.command_status == S.ESME_RINVOPTPARAMVAL


def test_tlv_errors_after_a_valid_tlv() -> None:
    # The first TLV is fine, the second runs off the end: the whole PDU is rejected.
    body = _c("D1") + bytes.fromhex("0427000102" + "0427000402")
    error = _decode_error(_pdu(CommandId.data_sm_resp, body))
    assert error.command_status == S.ESME_RINVOPTPARSTREAM


# --- Time fields (SMPP 3.4 §7.1.1: empty or exactly 16 characters) ---------------------


@pytest.mark.parametrize("length", [1, 10, 15, 17, 20])
def test_schedule_delivery_time_of_wrong_length(length: int) -> None:
    body = _submit_sm_body(schedule_delivery_time=_c("0" * length))
    error = _assert_error_then_enquire_link(_pdu(CommandId.submit_sm, body), S.ESME_RINVSCHED)
    assert error.command_id == CommandId.submit_sm


def test_schedule_delivery_time_of_replace_sm() -> None:
    body = _c("0A3F9B") + b"\x05\x00" + _c("Mesiji") + _c("2401151200") + b"\x00\x00\x00\x00"
    _assert_error_then_enquire_link(_pdu(CommandId.replace_sm, body), S.ESME_RINVSCHED)


@pytest.mark.parametrize("length", [1, 12, 17])
def test_validity_period_of_wrong_length(length: int) -> None:
    body = _submit_sm_body(validity_period=_c("0" * length))
    _assert_error_then_enquire_link(_pdu(CommandId.submit_sm, body), S.ESME_RINVEXPIRY)


def test_time_fields_of_16_characters_are_accepted() -> None:
    body = _submit_sm_body(
        schedule_delivery_time=_c("240115120000000+"), validity_period=_c("000001000000000R")
    )
    pdu = decode(_pdu(CommandId.submit_sm, body))
    assert isinstance(pdu, SubmitSm)
    assert pdu.schedule_delivery_time == "240115120000000+"
    assert pdu.validity_period == "000001000000000R"


# --- encode refuses what SMPP 3.4 cannot carry -----------------------------------------


@pytest.mark.parametrize(
    ("pdu", "status"),
    [
        (SubmitSm(source_addr="1" * 21), S.ESME_RINVSRCADR),
        (SubmitSm(destination_addr="9" * 21), S.ESME_RINVDSTADR),
        (SubmitSm(destination_addr="ქ"), S.ESME_RINVDSTADR),  # not Latin-1
        (SubmitSm(source_addr="12\x0034"), S.ESME_RINVSRCADR),  # NULL inside
        (SubmitSm(service_type="ABCDEF"), S.ESME_RINVSERTYP),
        (SubmitSm(schedule_delivery_time="2401151200"), S.ESME_RINVSCHED),
        (SubmitSm(validity_period="0" * 17), S.ESME_RINVEXPIRY),
        (SubmitSm(short_message=b"x" * 255), S.ESME_RINVMSGLEN),
        (BindTransmitter(system_id="S" * 16), S.ESME_RINVSYSID),
        (BindTransmitter(password="p" * 9), S.ESME_RINVPASWD),
        (QuerySmResp(final_date="24"), None),
        (SubmitSmResp(message_id="m" * 65), S.ESME_RINVMSGID),
        (SubmitMulti(dest_address=(SmeAddress(1, 1, "1" * 21),)), S.ESME_RINVDSTADR),
        (SubmitMulti(dest_address=(DistributionList("L" * 21),)), S.ESME_RINVDLNAME),
        (SubmitMulti(dest_address=(DistributionList("L"),) * 255), S.ESME_RINVNUMDESTS),
    ],
)
def test_encode_rejects_invalid_strings_and_lengths(pdu: Pdu, status: int | None) -> None:
    with pytest.raises(PduError) as info:
        encode(pdu)
    if status is not None:
        assert info.value.command_status == status


def test_encode_accepts_the_limits() -> None:
    data = encode(SubmitSm(source_addr="1" * 20, short_message=b"x" * 254))
    assert len(data) == 16 + 17 + 20 + 254  # §4.4.1: 17 octets of other fields when empty
    assert data[:4] == len(data).to_bytes(4, "big")
    assert len(encode(SubmitMulti(dest_address=(DistributionList("L"),) * 254))) > 254 * 3


@pytest.mark.parametrize(
    "pdu",
    [
        pytest.param(SubmitSm(esm_class=256), id="esm_class=256"),
        pytest.param(SubmitSm(data_coding=-1), id="data_coding=-1"),
        pytest.param(BindTransmitter(interface_version=0x134), id="interface_version=0x134"),
        pytest.param(QuerySmResp(message_state=1000), id="message_state=1000"),
        pytest.param(SubmitSm(sequence_number=2**32), id="sequence_number=2**32"),
        pytest.param(SubmitSm(sequence_number=-1), id="sequence_number=-1"),
        pytest.param(EnquireLink(command_status=2**32), id="command_status=2**32"),
        pytest.param(
            SubmitMultiResp(unsuccess_sme=(UnsuccessSme(1, 1, "1", 2**32),)),
            id="error_status_code=2**32",
        ),
        # Integers inside the submit_multi lists (§4.5.1.1, §4.5.2.1) are 1 octet each.
        pytest.param(
            SubmitMulti(dest_address=(SmeAddress(256, 1, "1"),)), id="sme_dest_addr_ton=256"
        ),
        pytest.param(
            SubmitMulti(dest_address=(SmeAddress(1, -1, "1"),)), id="sme_dest_addr_npi=-1"
        ),
        pytest.param(
            SubmitMultiResp(unsuccess_sme=(UnsuccessSme(1, 300, "1", 0),)),
            id="unsuccess_dest_addr_npi=300",
        ),
        # no_unsuccess is a 1-octet count (§4.5.2).
        pytest.param(
            SubmitMultiResp(unsuccess_sme=(UnsuccessSme(1, 1, "1", 0),) * 256),
            id="no_unsuccess=256",
        ),
    ],
)
def test_encode_rejects_integers_that_do_not_fit(pdu: Pdu) -> None:
    with pytest.raises(PduError):
        encode(pdu)


@pytest.mark.parametrize(
    ("item", "status"),
    [
        pytest.param(Tlv.of(tlv.message_state, 256), S.ESME_RINVOPTPARAMVAL, id="int1=256"),
        pytest.param(
            Tlv.of(tlv.sar_msg_ref_num, 0x10000), S.ESME_RINVOPTPARAMVAL, id="int2=0x10000"
        ),
        pytest.param(Tlv.of(tlv.qos_time_to_live, -1), S.ESME_RINVOPTPARAMVAL, id="int4=-1"),
        # An unknown tag has no integer layout.
        pytest.param(Tlv(0x1401, 5), S.ESME_RINVOPTPARAMVAL, id="unknown_tag_int"),
        pytest.param(
            Tlv.of(tlv.message_payload, bytes(0x10000)), S.ESME_RINVPARLEN, id="payload_64k"
        ),
        # §5.3.2.12: receipted_message_id is a C-Octet String of Latin-1, at most 65 octets.
        pytest.param(Tlv.of(tlv.receipted_message_id, "ქ"), None, id="cstring_not_latin1"),
        pytest.param(
            Tlv.of(tlv.receipted_message_id, "A" * 65), S.ESME_RINVPARLEN, id="cstring_too_long"
        ),
        # §5.3.2.31: network_error_code is exactly 3 octets.
        pytest.param(
            Tlv.of(tlv.network_error_code, b"\x03\x00"), S.ESME_RINVPARLEN, id="octets_too_short"
        ),
    ],
)
def test_encode_rejects_invalid_tlv_values(item: Tlv, status: int | None) -> None:
    with pytest.raises(PduError) as info:
        encode(SubmitSmResp(message_id="1", tlvs=(item,)))
    if status is not None:
        assert info.value.command_status == status


# --- the codec is sans-I/O -------------------------------------------------------------


def _sans_io_modules() -> list[str]:
    names = [
        "mesiji.errors",
        "mesiji.smpp.constants",
        "mesiji.smpp.fields",
        "mesiji.smpp.tlv",
        "mesiji.smpp.pdus",
        "mesiji.smpp.codec",
        "mesiji.smpp.session",
        "mesiji.smpp.protocol",
        "mesiji.smpp.transport",
        "mesiji.smpp.receipts",
        "mesiji.text",
    ]
    return [name for name in names if importlib.util.find_spec(name) is not None]


@pytest.mark.parametrize("module", _sans_io_modules())
def test_module_does_not_import_asyncio(module: str) -> None:
    code = f"import {module}, sys; assert 'asyncio' not in sys.modules, sorted(sys.modules)"
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_sans_io_modules_include_the_codec() -> None:
    modules = _sans_io_modules()
    assert "mesiji.smpp.codec" in modules
    assert "mesiji.smpp.protocol" in modules
    assert "mesiji.smpp.session" in modules
    assert "mesiji.text" in modules
