"""Interop at the byte level: a client written from the spec with socket and struct only.

Nothing from Mesiji builds or reads these PDUs, so a misreading of SMPP 3.4 shared by our codec
and our simulator would show up here.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass

from mesiji.testing import eventually

from .conftest import Harness

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number


def cstring(value: str) -> bytes:
    return value.encode("ascii") + b"\x00"


class RawClient:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> None:
        self.sock.sendall(HEADER.pack(16 + len(body), command_id, status, sequence) + body)

    def recv(self) -> tuple[int, int, int, bytes]:
        length, command_id, status, sequence = HEADER.unpack(self._exactly(16))
        return command_id, status, sequence, self._exactly(length - 16)

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data


def read_cstring(body: bytes, pos: int) -> tuple[str, int]:
    end = body.index(b"\x00", pos)
    return body[pos:end].decode("ascii"), end + 1


@dataclass
class Deliver:
    source: str
    destination: str
    esm_class: int
    short_message: bytes
    tlvs: dict[int, bytes]


Raw = tuple[int, int, int, bytes]  # command_id, command_status, sequence_number, body


@dataclass
class Seen:
    bind_resp: Raw
    submit_sm_resp: Raw
    deliver_sm: Raw
    deliver: Deliver
    enquire_link_resp: Raw
    generic_nack: Raw
    unbind_resp: Raw
    eof: bytes


def parse_deliver_sm(body: bytes) -> Deliver:
    """The mandatory fields of deliver_sm (SMPP 3.4 §4.6.1) and the raw TLVs after them."""
    _, pos = read_cstring(body, 0)  # service_type
    pos += 2  # source_addr_ton, source_addr_npi
    source, pos = read_cstring(body, pos)
    pos += 2
    destination, pos = read_cstring(body, pos)
    esm_class = body[pos]
    pos += 3  # esm_class, protocol_id, priority_flag
    _, pos = read_cstring(body, pos)  # schedule_delivery_time
    _, pos = read_cstring(body, pos)  # validity_period
    pos += 4  # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    sm_length = body[pos]
    short_message = body[pos + 1 : pos + 1 + sm_length]
    pos += 1 + sm_length
    tlvs = {}
    while pos < len(body):
        tag, length = struct.unpack_from(">HH", body, pos)
        tlvs[tag] = body[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return Deliver(source, destination, esm_class, short_message, tlvs)


def raw_session(port: int) -> Seen:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        client = RawClient(sock)
        # bind_transceiver: system_id, password, system_type, interface_version, ton, npi, range
        client.send(
            0x09,
            1,
            cstring("rawclient") + cstring("pw") + cstring("") + b"\x34\x00\x00" + cstring(""),
        )
        bind_resp = client.recv()

        submit = (
            cstring("")  # service_type
            + b"\x05\x00" + cstring("RAWTEST")  # source: alphanumeric
            + b"\x01\x01" + cstring("254711111111")  # destination: international, ISDN
            + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
            + cstring("") + cstring("")  # schedule_delivery_time, validity_period
            + b"\x01\x00\x00\x00"  # registered_delivery=1, replace, data_coding, default msg
            + bytes([11]) + b"hello world"
        )  # fmt: skip
        client.send(0x04, 2, submit)
        submit_sm_resp = client.recv()

        deliver_sm = client.recv()
        client.send(0x80000005, deliver_sm[2], cstring(""))  # deliver_sm_resp

        client.send(0x15, 3)  # enquire_link
        enquire_link_resp = client.recv()
        client.send(0x7777, 4)  # no such command
        generic_nack = client.recv()
        client.send(0x06, 5)  # unbind
        unbind_resp = client.recv()
        eof = sock.recv(1)
    return Seen(
        bind_resp,
        submit_sm_resp,
        deliver_sm,
        parse_deliver_sm(deliver_sm[3]),
        enquire_link_resp,
        generic_nack,
        unbind_resp,
        eof,
    )


async def test_a_raw_socket_client_binds_submits_and_gets_its_receipt(harness: Harness) -> None:
    sim = await harness.simulator(listen=True, receipt_delay=0)

    async with asyncio.timeout(10):
        seen = await asyncio.to_thread(raw_session, sim.port)

    command_id, status, sequence, body = seen.bind_resp
    assert (command_id, status, sequence) == (0x80000009, 0, 1)
    # system_id "MESIJI-SIM", then TLV sc_interface_version (0x0210, length 1, 0x34)
    assert body == cstring("MESIJI-SIM") + b"\x02\x10\x00\x01\x34"

    command_id, status, sequence, body = seen.submit_sm_resp
    assert (command_id, status, sequence) == (0x80000004, 0, 2)
    message_id, end = read_cstring(body, 0)
    assert end == len(body)
    assert message_id == f"{int(message_id, 16):X}"

    assert seen.deliver_sm[:2] == (0x00000005, 0)
    deliver = seen.deliver
    assert deliver.esm_class == 0x04
    assert deliver.source == "254711111111"
    assert deliver.destination == "RAWTEST"
    assert deliver.short_message.startswith(f"id:{message_id} sub:001 dlvrd:001 ".encode())
    assert b" stat:DELIVRD err:000 text:hello world" in deliver.short_message
    assert deliver.tlvs[0x001E] == cstring(message_id)  # receipted_message_id
    assert deliver.tlvs[0x0427] == b"\x02"  # message_state DELIVERED

    assert seen.enquire_link_resp[:3] == (0x80000015, 0, 3)
    assert seen.generic_nack[:3] == (0x80000000, 0x03, 4)  # ESME_RINVCMDID
    assert seen.unbind_resp[:3] == (0x80000006, 0, 5)
    assert seen.eof == b""
    await eventually(lambda: sim.stats.receipts_acked == 1)
