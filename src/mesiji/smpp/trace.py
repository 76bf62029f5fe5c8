"""One-line, human-readable descriptions of PDUs, for logs and the troubleshooting command."""

from __future__ import annotations

import dataclasses

from mesiji.errors import TextError
from mesiji.smpp.constants import ESM_CLASS_TYPE_MASK, EsmClass, status_name
from mesiji.smpp.pdus import Pdu
from mesiji.smpp.tlv import Tlv
from mesiji.text import decode_text, parse_udh

_HIDDEN = frozenset({"password"})
_HEX_FIELDS = frozenset({"esm_class", "data_coding", "registered_delivery"})


def describe(pdu: Pdu, *, with_hex: bytes | None = None) -> str:
    """``submit_sm #7 ESME_ROK source_addr='Mesiji' ... short_message[12]='hello'``."""
    parts = [f"{pdu.command_id.name} #{pdu.sequence_number}"]
    if pdu.is_response or pdu.command_status:
        parts.append(status_name(pdu.command_status))
    for field in dataclasses.fields(pdu):
        name = field.name
        if name in {"sequence_number", "command_status", "tlvs", "short_message"}:
            continue
        value = getattr(pdu, name)
        if name in _HIDDEN:
            parts.append(f"{name}='***'")
        elif name in _HEX_FIELDS:
            parts.append(f"{name}=0x{value:02X}")
        elif isinstance(value, int):
            if value:
                parts.append(f"{name}={int(value)}")
        elif value not in ("", ()):
            parts.append(f"{name}={value!r}")
    short_message = getattr(pdu, "short_message", None)
    if short_message:
        parts.append(_describe_short_message(pdu, short_message))
    parts.extend(_describe_tlv(item) for item in pdu.tlvs)
    line = " ".join(parts)
    if with_hex is not None:
        line += "\n    " + with_hex.hex()
    return line


def _describe_short_message(pdu: Pdu, short_message: bytes) -> str:
    esm_class = int(getattr(pdu, "esm_class", 0))
    data_coding = int(getattr(pdu, "data_coding", 0))
    prefix = ""
    payload = short_message
    try:
        if esm_class & EsmClass.udhi:
            udh, payload = parse_udh(short_message)
            prefix = f"udh={short_message[: udh.length].hex()} "
            if udh.concat is not None:
                prefix += f"(part {udh.concat.seqnum}/{udh.concat.total}) "
        if esm_class & ESM_CLASS_TYPE_MASK == EsmClass.smsc_delivery_receipt:
            text = payload.decode("latin-1")
        else:
            text = decode_text(payload, data_coding)
    except TextError:
        return f"short_message[{len(short_message)}]={short_message.hex()}"
    return f"{prefix}short_message[{len(short_message)}]={text!r}"


def _describe_tlv(item: Tlv) -> str:
    value = item.value
    shown = value.hex() if isinstance(value, bytes) else repr(value)
    return f"{item.name}={shown}{' (malformed)' if item.malformed else ''}"
