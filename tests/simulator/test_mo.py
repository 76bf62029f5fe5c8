"""Mobile-originated messages sent by the simulator to a bound ESME (SMPP 3.4 §4.6.1)."""

from __future__ import annotations

import asyncio

import pytest

from mesiji.errors import SmppError, TextError
from mesiji.simulator import mo_pdus
from mesiji.smpp import tlv
from mesiji.smpp.constants import BindMode, CommandStatus, Ton
from mesiji.smpp.pdus import DeliverSm
from mesiji.testing import VirtualClock
from mesiji.text import Reassembler, SarInfo, concat_info_from, decode_text
from mesiji.text.coding import DataCoding

from .conftest import SAFETY, Harness

LONG = "Habari! " * 40  # 320 GSM-7 characters: three parts


def reassemble(pdus: list[DeliverSm]) -> str:
    reassembler = Reassembler()
    for pdu in pdus:
        sar = None
        if pdu.tlv(tlv.sar_msg_ref_num) is not None:
            sar = SarInfo(
                pdu.tlv(tlv.sar_msg_ref_num) or 0,
                pdu.tlv(tlv.sar_total_segments) or 0,
                pdu.tlv(tlv.sar_segment_seqnum) or 0,
            )
        info, payload = concat_info_from(
            pdu.short_message, udhi=bool(pdu.esm_class & 0x40), sar=sar
        )
        assert info is not None
        whole = reassembler.add("k", info.reference, info.total, info.seqnum, payload, now=0)
        if whole is not None:
            return decode_text(whole, pdu.data_coding)
    raise AssertionError("the parts did not make a whole message")


async def test_short_mo_arrives(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim, BindMode.receiver, system_id="shop")

    async with asyncio.timeout(SAFETY):
        sent = await sim.send_mo("shop", "254700000001", "40404", "STOP")

    [pdu] = esme.deliveries
    assert sent == [pdu.with_sequence(0)]
    assert pdu.esm_class == 0  # a plain message, not a receipt
    assert (pdu.source_addr, pdu.source_addr_ton) == ("254700000001", 1)
    assert (pdu.destination_addr, pdu.dest_addr_ton) == ("40404", Ton.network_specific)
    assert decode_text(pdu.short_message, pdu.data_coding) == "STOP"
    assert (sim.stats.mo_sent, sim.stats.mo_acked) == (1, 1)


@pytest.mark.parametrize("concat", ["udh8", "sar"])
async def test_long_mo_arrives_in_parts(harness: Harness, concat: str) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim, BindMode.transceiver, system_id="shop")

    async with asyncio.timeout(SAFETY):
        await sim.send_mo("shop", "254700000001", "40404", LONG, concat=concat)

    assert len(esme.deliveries) == 3
    assert reassemble(esme.deliveries) == LONG


async def test_payload_mo_is_one_pdu(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim, BindMode.receiver, system_id="shop")

    async with asyncio.timeout(SAFETY):
        await sim.send_mo("shop", "Alice", "40404", LONG, concat="payload")

    [pdu] = esme.deliveries
    assert pdu.short_message == b""
    payload = pdu.tlv(tlv.message_payload)
    assert payload is not None
    assert decode_text(payload, pdu.data_coding) == LONG
    assert pdu.source_addr_ton == 5  # alphanumeric


async def test_mo_in_ucs2(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim, BindMode.receiver, system_id="shop")

    async with asyncio.timeout(SAFETY):
        await sim.send_mo("shop", "254700000001", "40404", "Hi", data_coding=DataCoding.ucs2)

    [pdu] = esme.deliveries
    assert pdu.data_coding == DataCoding.ucs2
    assert pdu.short_message == "Hi".encode("utf-16-be")


async def test_mo_waits_for_a_receiving_bind(harness: Harness) -> None:
    sim = await harness.simulator()
    sending = asyncio.create_task(sim.send_mo("shop", "254700000001", "40404", "hello"))
    await harness.esme(sim, BindMode.transmitter, system_id="shop")  # cannot receive
    await harness.settle()
    assert not sending.done()

    esme = await harness.esme(sim, BindMode.receiver, system_id="shop")
    async with asyncio.timeout(SAFETY):
        await sending

    assert len(esme.deliveries) == 1


async def test_mo_given_up_raises(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(max_delivery_attempts=1)
    esme = await harness.esme(sim, BindMode.receiver, system_id="shop")
    esme.answers.append(CommandStatus.ESME_RX_T_APPN)

    with pytest.raises(SmppError, match="given up"):
        async with asyncio.timeout(SAFETY):
            await sim.send_mo("shop", "254700000001", "40404", "hello")


def test_mo_pdus_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TextError):
        mo_pdus("1", "2", "hi", data_coding=DataCoding.octet_unspecified_4)
    with pytest.raises(TextError):
        mo_pdus("1", "2", "hi", concat="carrier-pigeon")
    with pytest.raises(TextError):
        mo_pdus("1", "2", "\u20ac\u4e16", data_coding=DataCoding.latin1)
