"""Optional parameters (TLVs) of SMPP 3.4 §5.3.

A :class:`Tlv` keeps its tag and a typed value: ``int`` for the Integer parameters, ``str`` for
the C-Octet Strings, ``bytes`` for the Octet Strings and for every tag this module does not
know. Unknown tags (vendor-specific ones in 0x1400-0x3FFF, or newer versions') therefore round
trip byte for byte. PDUs keep their TLVs as an ordered tuple, so re-encoding a decoded PDU gives
the same bytes.

A known parameter whose value breaks its layout (an empty message_state, a 2-octet
network_error_code, a C-Octet String with a NUL inside) is kept too, as a *malformed* TLV
holding the octets it came with: SMPP 3.4 §5.3 makes these parameters optional, real SMSCs
send such values, and rejecting the whole PDU for one of them makes the peer resend the same
bytes for ever (a deliver_sm with a receipt, most of all). :func:`get` does not see malformed
TLVs; :func:`malformed` returns their octets to a caller that can still use them. Only an
optional parameter that cannot be framed (a truncated header, a length past the PDU's end)
makes the PDU an error.

Each known parameter has a :class:`TlvSpec` named as the spec names it, typed by its value::

    pdu.tlv(tlv.message_state)          # -> int | None
    Tlv.of(tlv.receipted_message_id, "0A3F")
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar, cast

from mesiji.errors import PduError
from mesiji.smpp.constants import CommandStatus

TlvValue = int | str | bytes
V = TypeVar("V", int, str, bytes)


class TlvKind(Enum):
    """How a TLV's value is laid out on the wire (SMPP 3.4 §3.1)."""

    int1 = 1
    int2 = 2
    int4 = 4
    cstring = "cstring"
    octets = "octets"


@dataclass(frozen=True, slots=True)
class TlvSpec(Generic[V]):
    """A known optional parameter: its tag, its name in the spec and its value layout.

    ``min_length`` / ``max_length`` bound the encoded value length (§5.3.2); a peer's value
    outside them is answered with ESME_RINVPARLEN.
    """

    tag: int
    name: str
    kind: TlvKind
    min_length: int = 0
    max_length: int = 65535


def _int(tag: int, name: str, size: int) -> TlvSpec[int]:
    kind = {1: TlvKind.int1, 2: TlvKind.int2, 4: TlvKind.int4}[size]
    return TlvSpec(tag, name, kind, size, size)


def _cstr(tag: int, name: str, max_length: int) -> TlvSpec[str]:
    return TlvSpec(tag, name, TlvKind.cstring, 0, max_length)


def _oct(tag: int, name: str, min_length: int = 0, max_length: int = 65535) -> TlvSpec[bytes]:
    return TlvSpec(tag, name, TlvKind.octets, min_length, max_length)


# SMPP 3.4 §5.3.2, in the order of the spec's table.
dest_addr_subunit = _int(0x0005, "dest_addr_subunit", 1)
dest_network_type = _int(0x0006, "dest_network_type", 1)
dest_bearer_type = _int(0x0007, "dest_bearer_type", 1)
dest_telematics_id = _int(0x0008, "dest_telematics_id", 2)
source_addr_subunit = _int(0x000D, "source_addr_subunit", 1)
source_network_type = _int(0x000E, "source_network_type", 1)
source_bearer_type = _int(0x000F, "source_bearer_type", 1)
source_telematics_id = _int(0x0010, "source_telematics_id", 1)
qos_time_to_live = _int(0x0017, "qos_time_to_live", 4)
payload_type = _int(0x0019, "payload_type", 1)
additional_status_info_text = _cstr(0x001D, "additional_status_info_text", 256)
receipted_message_id = _cstr(0x001E, "receipted_message_id", 65)
ms_msg_wait_facilities = _int(0x0030, "ms_msg_wait_facilities", 1)
privacy_indicator = _int(0x0201, "privacy_indicator", 1)
source_subaddress = _oct(0x0202, "source_subaddress", 2, 23)
dest_subaddress = _oct(0x0203, "dest_subaddress", 2, 23)
user_message_reference = _int(0x0204, "user_message_reference", 2)
user_response_code = _int(0x0205, "user_response_code", 1)
source_port = _int(0x020A, "source_port", 2)
destination_port = _int(0x020B, "destination_port", 2)
sar_msg_ref_num = _int(0x020C, "sar_msg_ref_num", 2)
language_indicator = _int(0x020D, "language_indicator", 1)
sar_total_segments = _int(0x020E, "sar_total_segments", 1)
sar_segment_seqnum = _int(0x020F, "sar_segment_seqnum", 1)
sc_interface_version = _int(0x0210, "sc_interface_version", 1)
callback_num_pres_ind = _int(0x0302, "callback_num_pres_ind", 1)
callback_num_atag = _oct(0x0303, "callback_num_atag", 0, 65)
number_of_messages = _int(0x0304, "number_of_messages", 1)
callback_num = _oct(0x0381, "callback_num", 4, 19)
dpf_result = _int(0x0420, "dpf_result", 1)
set_dpf = _int(0x0421, "set_dpf", 1)
ms_availability_status = _int(0x0422, "ms_availability_status", 1)
network_error_code = _oct(0x0423, "network_error_code", 3, 3)
message_payload = _oct(0x0424, "message_payload")
delivery_failure_reason = _int(0x0425, "delivery_failure_reason", 1)
more_messages_to_send = _int(0x0426, "more_messages_to_send", 1)
message_state = _int(0x0427, "message_state", 1)
ussd_service_op = _oct(0x0501, "ussd_service_op", 1, 1)
display_time = _int(0x1201, "display_time", 1)
sms_signal = _int(0x1203, "sms_signal", 2)
ms_validity = _int(0x1204, "ms_validity", 1)
alert_on_message_delivery = _oct(0x130C, "alert_on_message_delivery", 0, 0)
its_reply_type = _int(0x1380, "its_reply_type", 1)
its_session_info = _oct(0x1383, "its_session_info", 2, 2)

#: Every known parameter by tag.
SPECS: dict[int, TlvSpec[int] | TlvSpec[str] | TlvSpec[bytes]] = {
    spec.tag: spec for spec in globals().copy().values() if isinstance(spec, TlvSpec)
}

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_TL = struct.Struct(">HH")
_INT_STRUCTS = {TlvKind.int1: _U8, TlvKind.int2: _U16, TlvKind.int4: _U32}


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter as carried in a PDU.

    ``malformed`` marks a known parameter whose value did not fit its spec when decoded:
    ``value`` then holds the octets as received, and they are written back unchanged.
    """

    tag: int
    value: TlvValue
    malformed: bool = False

    @staticmethod
    def of(spec: TlvSpec[V], value: V) -> Tlv:
        """A TLV of a known parameter, typed by its spec."""
        return Tlv(spec.tag, value)

    @property
    def name(self) -> str:
        """The spec's name, or ``tlv_0xNNNN`` for an unknown tag."""
        spec = SPECS.get(self.tag)
        return spec.name if spec is not None else f"tlv_0x{self.tag:04X}"


def get(tlvs: tuple[Tlv, ...], spec: TlvSpec[V]) -> V | None:
    """The value of the first well-formed TLV with ``spec``'s tag, or None."""
    for item in tlvs:
        if item.tag == spec.tag and not item.malformed:
            return cast(V, item.value)
    return None


def malformed(tlvs: tuple[Tlv, ...], spec: TlvSpec[Any]) -> bytes | None:
    """The octets of the first malformed TLV with ``spec``'s tag, or None."""
    for item in tlvs:
        if item.tag == spec.tag and item.malformed:
            return bytes(cast(bytes, item.value))
    return None


def encode_tlv(item: Tlv) -> bytes:
    """Encode one TLV (SMPP 3.4 §3.1: 2-octet tag, 2-octet length, value).

    A known tag's value must have its spec's type and length, so that nothing is written that
    a peer (or our own decoder) would answer with ESME_RINVPARLEN or ESME_RINVOPTPARAMVAL.
    """
    value = item.value
    spec = SPECS.get(item.tag)
    if item.malformed:
        # Octets received from a peer and kept as they came (see the module docstring).
        if not isinstance(value, bytes):
            raise PduError(
                f"malformed TLV 0x{item.tag:04X} must hold octets",
                CommandStatus.ESME_RINVOPTPARAMVAL,
            )
        if len(value) > 0xFFFF:
            raise PduError(f"TLV 0x{item.tag:04X} is too long", CommandStatus.ESME_RINVPARLEN)
        return _TL.pack(item.tag, len(value)) + value
    if isinstance(value, int):
        if spec is None or spec.kind not in _INT_STRUCTS:
            raise PduError(
                f"TLV 0x{item.tag:04X} takes no integer value", CommandStatus.ESME_RINVOPTPARAMVAL
            )
        try:
            raw = _INT_STRUCTS[spec.kind].pack(value)
        except struct.error as exc:
            raise PduError(
                f"{spec.name}={value} does not fit {spec.kind.value} octet(s)",
                CommandStatus.ESME_RINVOPTPARAMVAL,
            ) from exc
    elif isinstance(value, str):
        try:
            raw = value.encode("latin-1") + b"\x00"
        except UnicodeEncodeError as exc:
            raise PduError(
                f"TLV 0x{item.tag:04X} must be a Latin-1 string", CommandStatus.ESME_RINVOPTPARAMVAL
            ) from exc
        if 0 in raw[:-1]:
            raise PduError(
                f"TLV 0x{item.tag:04X} has a NULL inside", CommandStatus.ESME_RINVOPTPARAMVAL
            )
    else:
        raw = value
    if spec is not None:
        if spec.kind in _INT_STRUCTS and not isinstance(value, int):
            raise PduError(f"{spec.name} takes an integer", CommandStatus.ESME_RINVOPTPARAMVAL)
        if not spec.min_length <= len(raw) <= spec.max_length:
            raise PduError(
                f"{spec.name} would be {len(raw)} octets, "
                f"expected {spec.min_length}..{spec.max_length}",
                CommandStatus.ESME_RINVPARLEN,
            )
    if len(raw) > 0xFFFF:
        raise PduError(f"TLV 0x{item.tag:04X} is too long", CommandStatus.ESME_RINVPARLEN)
    return _TL.pack(item.tag, len(raw)) + raw


def decode_tlvs(buf: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[Tlv, ...]:
    """Decode the TLVs in ``buf[pos:end]``.

    Raises :class:`PduError` (ESME_RINVOPTPARSTREAM) when the TLVs cannot be framed; a known
    parameter whose value breaks its spec is kept as a malformed :class:`Tlv`.
    """
    items: list[Tlv] = []
    while pos < end:
        if end - pos < 4:
            raise PduError("truncated TLV header", CommandStatus.ESME_RINVOPTPARSTREAM)
        tag, length = _TL.unpack_from(buf, pos)
        pos += 4
        if pos + length > end:
            raise PduError(
                f"TLV 0x{tag:04X} runs past the end of the PDU", CommandStatus.ESME_RINVOPTPARSTREAM
            )
        raw = bytes(buf[pos : pos + length])
        pos += length
        spec = SPECS.get(tag)
        if spec is None:
            items.append(Tlv(tag, raw))
            continue
        value = _decode_value(spec, raw) if spec.min_length <= length <= spec.max_length else None
        items.append(Tlv(tag, raw, malformed=True) if value is None else Tlv(tag, value))
    return tuple(items)


def _decode_value(
    spec: TlvSpec[int] | TlvSpec[str] | TlvSpec[bytes], raw: bytes
) -> TlvValue | None:
    """The typed value of ``raw`` (of a length within the spec), or None if it breaks it."""
    kind = spec.kind
    if kind is TlvKind.octets:
        return raw
    if kind is TlvKind.cstring:
        # §3.1: a C-Octet String value includes its NULL terminator. Some SMSCs leave it out
        # of receipted_message_id; accepting that costs nothing and loses no receipt.
        if raw.endswith(b"\x00"):
            raw = raw[:-1]
        elif len(raw) >= spec.max_length:
            return None
        if 0 in raw:
            return None
        return raw.decode("latin-1")
    return int(_INT_STRUCTS[kind].unpack(raw)[0])
