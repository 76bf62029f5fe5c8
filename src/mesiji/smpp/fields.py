"""Layouts of the mandatory parameters of SMPP 3.4 PDUs (§4, types of §3.1).

Each field knows how to put its value into an output buffer and how to read it back from a
PDU body, raising :class:`PduError` with the command_status the spec associates with a bad
value of that field (e.g. ESME_RINVSRCADR for a bad source_addr).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol

from mesiji.errors import PduError
from mesiji.smpp.constants import CommandStatus

Buffer = bytes | bytearray


class Field(Protocol):
    """How one mandatory parameter is laid out in a PDU body."""

    def encode(self, name: str, value: Any, out: bytearray) -> None: ...

    def decode(self, name: str, buf: Buffer, pos: int, end: int) -> tuple[Any, int]: ...


def _short(name: str, status: int = CommandStatus.ESME_RINVCMDLEN) -> PduError:
    return PduError(f"the PDU body ends inside {name}", status)


class Integer:
    """An unsigned integer of 1, 2 or 4 octets, big-endian (§3.1 "Integer")."""

    __slots__ = ("_struct", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._struct = struct.Struct({1: ">B", 2: ">H", 4: ">I"}[size])

    def encode(self, name: str, value: Any, out: bytearray) -> None:
        try:
            out += self._struct.pack(value)
        except struct.error as exc:
            raise PduError(
                f"{name}={value!r} does not fit {self.size} octet(s)", CommandStatus.ESME_RSYSERR
            ) from exc

    def decode(self, name: str, buf: Buffer, pos: int, end: int) -> tuple[int, int]:
        new = pos + self.size
        if new > end:
            raise _short(name)
        return self._struct.unpack_from(buf, pos)[0], new


@dataclass(frozen=True, slots=True)
class CString:
    """A NULL-terminated string of at most ``max_length`` octets including the NULL (§3.1).

    ``fixed`` lists the allowed lengths without the NULL, besides 0, for the Time fields
    (§7.1.1: absolute or relative time is exactly 16 characters).
    """

    max_length: int
    status: int = CommandStatus.ESME_RINVCMDLEN
    fixed: int | None = None

    def encode(self, name: str, value: Any, out: bytearray) -> None:
        try:
            raw = value.encode("latin-1")
        except (UnicodeEncodeError, AttributeError) as exc:
            raise PduError(f"{name} must be a Latin-1 string", self.status) from exc
        if len(raw) >= self.max_length or b"\x00" in raw:
            raise PduError(
                f"{name} is {len(raw)} octets; at most {self.max_length - 1} allowed", self.status
            )
        if self.fixed is not None and raw and len(raw) != self.fixed:
            raise PduError(f"{name} must be empty or {self.fixed} characters", self.status)
        out += raw
        out.append(0)

    def decode(self, name: str, buf: Buffer, pos: int, end: int) -> tuple[str, int]:
        limit = min(end, pos + self.max_length)
        nul = buf.find(b"\x00", pos, limit)
        if nul < 0:
            if limit == end and end - pos < self.max_length:
                raise _short(name)
            raise PduError(f"{name} is longer than {self.max_length - 1} octets", self.status)
        if self.fixed is not None and nul != pos and nul - pos != self.fixed:
            raise PduError(f"{name} must be empty or {self.fixed} characters", self.status)
        return bytes(buf[pos:nul]).decode("latin-1"), nul + 1


class ShortMessage:
    """sm_length (1 octet) followed by that many octets of short_message (§4.4.1)."""

    __slots__ = ()

    def encode(self, name: str, value: Any, out: bytearray) -> None:
        if len(value) > 254:
            # §4.4.1: up to 254 octets; longer content goes in message_payload.
            raise PduError(
                f"short_message is {len(value)} octets; at most 254 (use message_payload)",
                CommandStatus.ESME_RINVMSGLEN,
            )
        out.append(len(value))
        out += value

    def decode(self, name: str, buf: Buffer, pos: int, end: int) -> tuple[bytes, int]:
        if pos >= end:
            raise _short("sm_length")
        length = buf[pos]
        pos += 1
        if length > 254:
            raise PduError(f"sm_length {length} is over 254", CommandStatus.ESME_RINVMSGLEN)
        if pos + length > end:
            raise PduError("sm_length runs past the end of the PDU", CommandStatus.ESME_RINVMSGLEN)
        return bytes(buf[pos : pos + length]), pos + length


@dataclass(frozen=True, slots=True)
class SmeAddress:
    """One SME destination of submit_multi (§4.5.1.1, dest_flag 1)."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, slots=True)
class DistributionList:
    """One distribution list destination of submit_multi (§4.5.1.2, dest_flag 2)."""

    dl_name: str = ""


@dataclass(frozen=True, slots=True)
class UnsuccessSme:
    """One failed destination in submit_multi_resp (§4.5.2.1)."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    error_status_code: int = 0


U8 = Integer(1)
U32 = Integer(4)
_ADDR21 = CString(21, CommandStatus.ESME_RINVDSTADR)
_DL_NAME = CString(21, CommandStatus.ESME_RINVDLNAME)


class DestAddresses:
    """number_of_dests followed by that many dest_address entries (§4.5.1)."""

    __slots__ = ()

    def encode(self, name: str, value: Any, out: bytearray) -> None:
        if len(value) > 254:
            raise PduError(
                "submit_multi allows at most 254 destinations", CommandStatus.ESME_RINVNUMDESTS
            )
        out.append(len(value))
        for dest in value:
            if isinstance(dest, SmeAddress):
                out.append(1)
                U8.encode("dest_addr_ton", dest.dest_addr_ton, out)
                U8.encode("dest_addr_npi", dest.dest_addr_npi, out)
                _ADDR21.encode("destination_addr", dest.destination_addr, out)
            else:
                out.append(2)
                _DL_NAME.encode("dl_name", dest.dl_name, out)

    def decode(
        self, name: str, buf: Buffer, pos: int, end: int
    ) -> tuple[tuple[SmeAddress | DistributionList, ...], int]:
        count, pos = U8.decode("number_of_dests", buf, pos, end)
        dests: list[SmeAddress | DistributionList] = []
        for _ in range(count):
            flag, pos = U8.decode("dest_flag", buf, pos, end)
            if flag == 1:
                ton, pos = U8.decode("dest_addr_ton", buf, pos, end)
                npi, pos = U8.decode("dest_addr_npi", buf, pos, end)
                addr, pos = _ADDR21.decode("destination_addr", buf, pos, end)
                dests.append(SmeAddress(ton, npi, addr))
            elif flag == 2:
                dl_name, pos = _DL_NAME.decode("dl_name", buf, pos, end)
                dests.append(DistributionList(dl_name))
            else:
                raise PduError(
                    f"dest_flag {flag} is neither 1 nor 2", CommandStatus.ESME_RINVDESTFLAG
                )
        return tuple(dests), pos


class UnsuccessSmes:
    """no_unsuccess followed by that many unsuccess_sme entries (§4.5.2)."""

    __slots__ = ()

    def encode(self, name: str, value: Any, out: bytearray) -> None:
        U8.encode("no_unsuccess", len(value), out)
        for sme in value:
            U8.encode("dest_addr_ton", sme.dest_addr_ton, out)
            U8.encode("dest_addr_npi", sme.dest_addr_npi, out)
            _ADDR21.encode("destination_addr", sme.destination_addr, out)
            U32.encode("error_status_code", sme.error_status_code, out)

    def decode(
        self, name: str, buf: Buffer, pos: int, end: int
    ) -> tuple[tuple[UnsuccessSme, ...], int]:
        count, pos = U8.decode("no_unsuccess", buf, pos, end)
        smes: list[UnsuccessSme] = []
        for _ in range(count):
            ton, pos = U8.decode("dest_addr_ton", buf, pos, end)
            npi, pos = U8.decode("dest_addr_npi", buf, pos, end)
            addr, pos = _ADDR21.decode("destination_addr", buf, pos, end)
            code, pos = U32.decode("error_status_code", buf, pos, end)
            smes.append(UnsuccessSme(ton, npi, addr, code))
        return tuple(smes), pos
