"""A third-party SMPP client (python-smpplib) binds to the simulator, submits, gets receipts.

smpplib shares no code with Mesiji, so this proves the simulator speaks SMPP 3.4 on the wire
as other implementations read and write it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.gsm

from mesiji.simulator import SimulatorSettings, SmscSimulator


def send_with_smpplib(port: int, text: str) -> tuple[list[str], list[bytes]]:
    """Bind, submit ``text`` (split by smpplib), and read until every part's receipt came."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    message_ids: list[str] = []
    receipts: list[bytes] = []

    def sent(pdu: Any) -> None:
        message_ids.append(pdu.message_id.decode())

    def received(pdu: Any) -> None:
        receipts.append(pdu.short_message)

    client.set_message_sent_handler(sent)
    client.set_message_received_handler(received)
    client.connect()
    try:
        client.bind_transceiver(system_id="thirdparty", password="pw")
        parts, encoding_flag, msg_type_flag = smpplib.gsm.make_parts(text)
        for part in parts:
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr="Mesiji",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                destination_addr="995599123456",
                short_message=part,
                data_coding=encoding_flag,
                esm_class=msg_type_flag,
                registered_delivery=True,
            )
        while len(message_ids) < len(parts) or len(receipts) < len(parts):
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return message_ids, receipts


async def test_smpplib_binds_submits_a_long_georgian_text_and_reads_every_receipt() -> None:
    async with SmscSimulator(SimulatorSettings(port=0, receipt_delay=0.0)) as simulator:
        ids, receipts = await asyncio.to_thread(send_with_smpplib, simulator.port, "ქ" * 150)
        submitted = list(simulator.submitted)
    assert len(ids) == 3
    assert [record.message_id for record in submitted] == ids
    assert all(getattr(record.pdu, "data_coding", None) == 0x08 for record in submitted)
    assert sorted(r.split(b" ")[0] for r in receipts) == sorted(f"id:{i}".encode() for i in ids)
    assert all(b"stat:DELIVRD" in receipt for receipt in receipts)
