"""The sans-I/O SMPP 3.4 codec: bytes in, PDUs out, and back.

Nothing here touches a socket, a clock or an event loop (a test checks that this package does
not import asyncio). A session feeds whatever bytes arrived and takes out whole PDUs::

    decoder = PduDecoder()
    decoder.feed(data)
    while (pdu := decoder.next_pdu()) is not None:
        handle(pdu)

    transport.write(encode(SubmitSm(sequence_number=7, ...)))

Malformed input raises :class:`~mesiji.errors.PduError`, never anything else. Its
``command_status`` is what to answer with (SMPP 3.4 §5.1.3) and, when the header could be read,
``command_id`` and ``sequence_number`` say what to answer. A PDU with a bad body is consumed
whole, so decoding goes on with the next one; a bad command_length cannot be recovered from
(the PDU boundaries are lost) and leaves the decoder failed: the link must be closed.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

from mesiji.errors import PduError
from mesiji.smpp.constants import HEADER_LENGTH, RESPONSE_BIT, CommandId, CommandStatus
from mesiji.smpp.pdus import PDU_CLASSES, Pdu
from mesiji.smpp.tlv import decode_tlvs, encode_tlv

_HEADER = struct.Struct(">IIII")

#: The largest PDU accepted by default: a 64 KiB message_payload (§5.3.2.32) with room to spare.
DEFAULT_MAX_COMMAND_LENGTH = 0x10000 + 0x1000

__all__ = ["DEFAULT_MAX_COMMAND_LENGTH", "PduDecoder", "decode", "encode"]


def encode(pdu: Pdu) -> bytes:
    """The wire form of ``pdu`` (SMPP 3.4 §3.2: header, mandatory parameters, TLVs).

    Raises :class:`PduError` when a value cannot be encoded (a too long address, a number
    that does not fit its octets); ``command_status`` names the offending parameter's error.
    """
    out = bytearray(HEADER_LENGTH)
    if not (pdu.command_status and pdu.is_response and _is_empty(pdu)):
        # §4.4.2 and others: an error response carries no body unless it has something to say.
        for name, field in pdu.body:
            field.encode(name, getattr(pdu, name), out)
    for item in pdu.tlvs:
        out += encode_tlv(item)
    try:
        _HEADER.pack_into(out, 0, len(out), pdu.command_id, pdu.command_status, pdu.sequence_number)
    except struct.error as exc:
        raise PduError(
            f"command_status or sequence_number of {pdu!r} does not fit 4 octets",
            CommandStatus.ESME_RSYSERR,
        ) from exc
    return bytes(out)


def _is_empty(pdu: Pdu) -> bool:
    defaults = _BODY_DEFAULTS[pdu.command_id]
    return not pdu.tlvs and all(getattr(pdu, name) == value for name, value in defaults)


# The default of every mandatory parameter, per command_id: fixed by the PDU classes.
_BODY_DEFAULTS: dict[int, tuple[tuple[str, object], ...]] = {
    command_id: tuple(
        (f.name, f.default) for f in dataclasses.fields(cls) if f.name in dict(cls.body)
    )
    for command_id, cls in PDU_CLASSES.items()
}


def decode(data: bytes | bytearray) -> Pdu:
    """Decode exactly one whole PDU; trailing or missing bytes are an error."""
    decoder = PduDecoder()
    decoder.feed(data)
    pdu = decoder.next_pdu()
    if pdu is None:
        raise PduError("incomplete PDU", CommandStatus.ESME_RINVCMDLEN)
    if decoder.buffered:
        raise PduError(f"{decoder.buffered} octet(s) after the PDU", CommandStatus.ESME_RINVCMDLEN)
    return pdu


class PduDecoder:
    """A streaming decoder: :meth:`feed` bytes as they arrive, :meth:`next_pdu` whole PDUs."""

    __slots__ = ("_buf", "_failed", "_max", "_pos")

    def __init__(self, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._max = max_command_length
        self._failed: PduError | None = None

    @property
    def failed(self) -> bool:
        """True after a framing error: no further PDU can be read from this stream."""
        return self._failed is not None

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as a PDU."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add received bytes."""
        if self._pos:
            # Drop what was consumed, so a long-lived link does not grow its buffer forever;
            # deleting a large prefix is cheap only when done rarely, hence the threshold.
            if self._pos == len(self._buf):
                self._buf.clear()
                self._pos = 0
            elif self._pos > 65536:
                del self._buf[: self._pos]
                self._pos = 0
        self._buf += data

    def next_pdu(self) -> Pdu | None:
        """The next whole PDU, or None until more bytes arrive."""
        if self._failed is not None:
            raise self._failed
        buf = self._buf
        start = self._pos
        available = len(buf) - start
        if available < HEADER_LENGTH:
            return None
        command_length, command_id, command_status, sequence_number = _HEADER.unpack_from(
            buf, start
        )
        if not HEADER_LENGTH <= command_length <= self._max:
            # §3.2: without a trustworthy length the stream cannot be resynchronised.
            self._failed = PduError(
                f"command_length {command_length} is outside {HEADER_LENGTH}..{self._max}",
                CommandStatus.ESME_RINVCMDLEN,
                command_id=command_id,
                sequence_number=sequence_number,
            )
            raise self._failed
        if available < command_length:
            return None
        end = start + command_length
        self._pos = end
        return _decode_at(buf, start, end, (command_id, command_status, sequence_number))


def _decode_at(buf: bytearray, start: int, end: int, header: tuple[int, int, int]) -> Pdu:
    command_id, command_status, sequence_number = header
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise PduError(
            f"unknown command_id 0x{command_id:08X}",
            CommandStatus.ESME_RINVCMDID,
            command_id=command_id,
            sequence_number=sequence_number,
        )
    pos = start + HEADER_LENGTH
    if pos == end and command_id & RESPONSE_BIT:
        # §4.4.2 and others: a response with an error status may come without its body.
        return cls(sequence_number=sequence_number, command_status=command_status)
    values: dict[str, Any] = {}
    try:
        for name, field in cls.body:
            values[name], pos = field.decode(name, buf, pos, end)
        tlvs = decode_tlvs(buf, pos, end) if pos < end else ()
    except PduError as exc:
        exc.command_id = command_id
        exc.sequence_number = sequence_number
        exc.args = (f"{CommandId(command_id).name}: {exc.args[0]}",)
        raise
    return cls(sequence_number=sequence_number, command_status=command_status, tlvs=tlvs, **values)
