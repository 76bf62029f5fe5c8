"""The PDUs of SMPP 3.4 §4 as frozen dataclasses.

Field names are the spec's. Length fields that only describe another field (sm_length,
number_of_dests, no_unsuccess) are not stored: they are derived when encoding, so a PDU can
never disagree with itself. Every PDU keeps its optional parameters as an ordered tuple of
:class:`~mesiji.smpp.tlv.Tlv` (unknown ones included) so that it re-encodes byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from mesiji.smpp import tlv as _tlv
from mesiji.smpp.constants import CommandId, CommandStatus
from mesiji.smpp.fields import (
    U8,
    CString,
    DestAddresses,
    DistributionList,
    Field,
    ShortMessage,
    SmeAddress,
    UnsuccessSme,
    UnsuccessSmes,
)

S = CommandStatus
V = TypeVar("V", int, str, bytes)
P = TypeVar("P", bound="Pdu")

_SYSTEM_ID = CString(16, S.ESME_RINVSYSID)
_PASSWORD = CString(9, S.ESME_RINVPASWD)
_SYSTEM_TYPE = CString(13, S.ESME_RINVSYSTYP)
_ADDRESS_RANGE = CString(41)
_SERVICE_TYPE = CString(6, S.ESME_RINVSERTYP)
_SOURCE_ADDR = CString(21, S.ESME_RINVSRCADR)
_SOURCE_ADDR_65 = CString(65, S.ESME_RINVSRCADR)
_DEST_ADDR = CString(21, S.ESME_RINVDSTADR)
_DEST_ADDR_65 = CString(65, S.ESME_RINVDSTADR)
_SCHEDULE = CString(17, S.ESME_RINVSCHED, fixed=16)
_VALIDITY = CString(17, S.ESME_RINVEXPIRY, fixed=16)
_FINAL_DATE = CString(17, fixed=16)
_MESSAGE_ID = CString(65, S.ESME_RINVMSGID)
_SHORT_MESSAGE = ShortMessage()

Body = tuple[tuple[str, Field], ...]

#: Per PDU class, the fields :meth:`Pdu.with_sequence` copies (all but sequence_number).
_COPIED: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Pdu:
    """Base of every PDU: the header fields that are not derived, and the TLVs."""

    command_id: ClassVar[CommandId]
    #: The mandatory parameters in wire order (SMPP 3.4 §4).
    body: ClassVar[Body] = ()

    sequence_number: int = 0
    command_status: int = 0
    tlvs: tuple[_tlv.Tlv, ...] = ()

    def tlv(self, spec: _tlv.TlvSpec[V]) -> V | None:
        """The value of the optional parameter ``spec``, or None when absent."""
        return _tlv.get(self.tlvs, spec)

    def with_sequence(self: P, sequence_number: int) -> P:
        """A copy carrying ``sequence_number`` (sessions number requests as they send them)."""
        # Every request sent is copied here, so field by field: half the time of
        # dataclasses.replace, which builds keywords and runs the whole __init__ again.
        cls = type(self)
        names = _COPIED.get(cls)
        if names is None:
            names = _COPIED[cls] = tuple(f.name for f in fields(cls) if f.name != "sequence_number")
        copy = object.__new__(cls)
        for name in names:
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "sequence_number", sequence_number)
        return copy

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & 0x80000000)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(Pdu):
    """A PDU that the peer must answer (SMPP 3.4 §2.7)."""

    response_class: ClassVar[type[Pdu]]

    def response(self, command_status: int = 0, **fields: Any) -> Pdu:
        """The answer to this request, with the same sequence_number (§3.2)."""
        return self.response_class(
            sequence_number=self.sequence_number, command_status=command_status, **fields
        )


# --- session management (§4.1, §4.2, §4.3, §4.11) --------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(Pdu):
    """Answer to a PDU that could not be understood (§4.3)."""

    command_id = CommandId.generic_nack


@dataclass(frozen=True, slots=True, kw_only=True)
class BindResp(Pdu):
    system_id: str = ""
    body = (("system_id", _SYSTEM_ID),)


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransmitterResp(BindResp):
    command_id = CommandId.bind_transmitter_resp


@dataclass(frozen=True, slots=True, kw_only=True)
class BindReceiverResp(BindResp):
    command_id = CommandId.bind_receiver_resp


@dataclass(frozen=True, slots=True, kw_only=True)
class BindTransceiverResp(BindResp):
    command_id = CommandId.bind_transceiver_resp


_HIDDEN = "'***'"


def _repr_hiding_password(pdu: Pdu) -> str:
    # The dataclass repr, with the password (§4.1.1) as '***': a PDU may end up in a log or
    # a traceback.
    shown = ", ".join(
        f"{f.name}={_HIDDEN if f.name == 'password' else repr(getattr(pdu, f.name))}"
        for f in fields(pdu)
        if f.repr
    )
    return f"{type(pdu).__qualname__}({shown})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bind(Request):
    """bind_transmitter, bind_receiver or bind_transceiver (§4.1); its repr hides the password.

    Subclasses are declared with ``repr=False`` so that they keep this repr.
    """

    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    body = (
        ("system_id", _SYSTEM_ID),
        ("password", _PASSWORD),
        ("system_type", _SYSTEM_TYPE),
        ("interface_version", U8),
        ("addr_ton", U8),
        ("addr_npi", U8),
        ("address_range", _ADDRESS_RANGE),
    )

    __repr__ = _repr_hiding_password


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindTransmitter(Bind):
    command_id = CommandId.bind_transmitter
    response_class = BindTransmitterResp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindReceiver(Bind):
    command_id = CommandId.bind_receiver
    response_class = BindReceiverResp


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class BindTransceiver(Bind):
    command_id = CommandId.bind_transceiver
    response_class = BindTransceiverResp


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbind(Pdu):
    """The SMSC asks the ESME to bind as receiver (§4.1.7); it has no response."""

    command_id = CommandId.outbind
    system_id: str = ""
    password: str = ""
    body = (("system_id", _SYSTEM_ID), ("password", _PASSWORD))

    __repr__ = _repr_hiding_password


@dataclass(frozen=True, slots=True, kw_only=True)
class UnbindResp(Pdu):
    command_id = CommandId.unbind_resp


@dataclass(frozen=True, slots=True, kw_only=True)
class Unbind(Request):
    command_id = CommandId.unbind
    response_class = UnbindResp


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id = CommandId.enquire_link_resp


@dataclass(frozen=True, slots=True, kw_only=True)
class EnquireLink(Request):
    command_id = CommandId.enquire_link
    response_class = EnquireLinkResp


# --- message submission and delivery (§4.4 - §4.7) --------------------------------------

_SM_BODY: Body = (
    ("service_type", _SERVICE_TYPE),
    ("source_addr_ton", U8),
    ("source_addr_npi", U8),
    ("source_addr", _SOURCE_ADDR),
    ("dest_addr_ton", U8),
    ("dest_addr_npi", U8),
    ("destination_addr", _DEST_ADDR),
    ("esm_class", U8),
    ("protocol_id", U8),
    ("priority_flag", U8),
    ("schedule_delivery_time", _SCHEDULE),
    ("validity_period", _VALIDITY),
    ("registered_delivery", U8),
    ("replace_if_present_flag", U8),
    ("data_coding", U8),
    ("sm_default_msg_id", U8),
    ("short_message", _SHORT_MESSAGE),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShortMessagePdu(Request):
    """The fields submit_sm and deliver_sm share (§4.4.1, §4.6.1)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    body = _SM_BODY

    @property
    def sm_length(self) -> int:
        return len(self.short_message)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSmResp(Pdu):
    command_id = CommandId.submit_sm_resp
    message_id: str = ""
    body = (("message_id", _MESSAGE_ID),)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitSm(ShortMessagePdu):
    command_id = CommandId.submit_sm
    response_class = SubmitSmResp


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSmResp(Pdu):
    command_id = CommandId.deliver_sm_resp
    message_id: str = ""  # §4.6.2: unused, always NULL
    body = (("message_id", _MESSAGE_ID),)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverSm(ShortMessagePdu):
    command_id = CommandId.deliver_sm
    response_class = DeliverSmResp


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMultiResp(Pdu):
    command_id = CommandId.submit_multi_resp
    message_id: str = ""
    unsuccess_sme: tuple[UnsuccessSme, ...] = ()
    body = (("message_id", _MESSAGE_ID), ("unsuccess_sme", UnsuccessSmes()))


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMulti(Request):
    command_id = CommandId.submit_multi
    response_class = SubmitMultiResp
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_address: tuple[SmeAddress | DistributionList, ...] = ()
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    body = (
        *_SM_BODY[:4],
        ("dest_address", DestAddresses()),
        *_SM_BODY[7:],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSmResp(Pdu):
    command_id = CommandId.data_sm_resp
    message_id: str = ""
    body = (("message_id", _MESSAGE_ID),)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSm(Request):
    """Transfer of data either way, the content in message_payload (§4.7.1)."""

    command_id = CommandId.data_sm
    response_class = DataSmResp
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    body = (
        ("service_type", _SERVICE_TYPE),
        ("source_addr_ton", U8),
        ("source_addr_npi", U8),
        ("source_addr", _SOURCE_ADDR_65),
        ("dest_addr_ton", U8),
        ("dest_addr_npi", U8),
        ("destination_addr", _DEST_ADDR_65),
        ("esm_class", U8),
        ("registered_delivery", U8),
        ("data_coding", U8),
    )


# --- ancillary operations (§4.8 - §4.12) --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySmResp(Pdu):
    command_id = CommandId.query_sm_resp
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0
    body = (
        ("message_id", _MESSAGE_ID),
        ("final_date", _FINAL_DATE),
        ("message_state", U8),
        ("error_code", U8),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class QuerySm(Request):
    command_id = CommandId.query_sm
    response_class = QuerySmResp
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    body = (
        ("message_id", _MESSAGE_ID),
        ("source_addr_ton", U8),
        ("source_addr_npi", U8),
        ("source_addr", _SOURCE_ADDR),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSmResp(Pdu):
    command_id = CommandId.cancel_sm_resp


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSm(Request):
    command_id = CommandId.cancel_sm
    response_class = CancelSmResp
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    body = (
        ("service_type", _SERVICE_TYPE),
        ("message_id", _MESSAGE_ID),
        ("source_addr_ton", U8),
        ("source_addr_npi", U8),
        ("source_addr", _SOURCE_ADDR),
        ("dest_addr_ton", U8),
        ("dest_addr_npi", U8),
        ("destination_addr", _DEST_ADDR),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSmResp(Pdu):
    command_id = CommandId.replace_sm_resp


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceSm(Request):
    command_id = CommandId.replace_sm
    response_class = ReplaceSmResp
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    body = (
        ("message_id", _MESSAGE_ID),
        ("source_addr_ton", U8),
        ("source_addr_npi", U8),
        ("source_addr", _SOURCE_ADDR),
        ("schedule_delivery_time", _SCHEDULE),
        ("validity_period", _VALIDITY),
        ("registered_delivery", U8),
        ("sm_default_msg_id", U8),
        ("short_message", _SHORT_MESSAGE),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertNotification(Pdu):
    """The SMSC tells the ESME that a mobile became available (§4.12); it has no response."""

    command_id = CommandId.alert_notification
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""
    body = (
        ("source_addr_ton", U8),
        ("source_addr_npi", U8),
        ("source_addr", _SOURCE_ADDR_65),
        ("esme_addr_ton", U8),
        ("esme_addr_npi", U8),
        ("esme_addr", CString(65)),
    )


#: Every PDU class by command_id.
PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        GenericNack,
        BindTransmitter,
        BindTransmitterResp,
        BindReceiver,
        BindReceiverResp,
        BindTransceiver,
        BindTransceiverResp,
        Outbind,
        Unbind,
        UnbindResp,
        EnquireLink,
        EnquireLinkResp,
        SubmitSm,
        SubmitSmResp,
        DeliverSm,
        DeliverSmResp,
        SubmitMulti,
        SubmitMultiResp,
        DataSm,
        DataSmResp,
        QuerySm,
        QuerySmResp,
        CancelSm,
        CancelSmResp,
        ReplaceSm,
        ReplaceSmResp,
        AlertNotification,
    )
}
