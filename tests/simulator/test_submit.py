"""Submits: message ids, the three submit PDUs, throttling, dropped links and the submit log."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from mesiji.simulator import Outcome
from mesiji.smpp import tlv
from mesiji.smpp.constants import BindMode, CommandStatus
from mesiji.smpp.fields import DistributionList, SmeAddress
from mesiji.smpp.pdus import (
    DataSm,
    DataSmResp,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
)
from mesiji.smpp.submit import part_tlvs
from mesiji.smpp.tlv import Tlv
from mesiji.testing import VirtualClock
from mesiji.text import ConcatMethod, split_text

from .conftest import SAFETY, Harness

HEX = re.compile(r"[0-9A-F]+")


async def test_message_ids_are_unique_upper_case_hex(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim, BindMode.transmitter)

    responses = await asyncio.gather(*(esme.submit() for _ in range(50)))

    ids = []
    for response in responses:
        assert isinstance(response, SubmitSmResp)
        assert response.command_status == 0
        assert HEX.fullmatch(response.message_id)
        ids.append(response.message_id)
    assert len(set(ids)) == 50
    numbers = sorted(int(message_id, 16) for message_id in ids)
    assert numbers == list(range(numbers[0], numbers[0] + 50))
    assert sim.stats.accepted == sim.stats.submit_sm == 50


async def test_ids_do_not_repeat_across_restarts(harness: Harness) -> None:
    first = await harness.simulator()
    second = await harness.simulator()
    a = await harness.esme(first, BindMode.transmitter)
    b = await harness.esme(second, BindMode.transmitter)

    id_a = (await a.submit()).message_id
    id_b = (await b.submit()).message_id

    assert id_a != id_b


async def test_message_id_base_is_honoured(harness: Harness) -> None:
    sim = await harness.simulator(message_id_base=0xABC)
    esme = await harness.esme(sim, BindMode.transmitter)

    response = await esme.submit()

    assert isinstance(response, SubmitSmResp)
    assert response.message_id == "ABC"


async def test_data_sm_and_submit_multi_are_accepted(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim, BindMode.transmitter)

    data = await esme.conn.request(
        DataSm(
            source_addr="MESIJI",
            destination_addr="254700000001",
            tlvs=(Tlv.of(tlv.message_payload, b"payload"),),
        )
    )
    multi = await esme.conn.request(
        SubmitMulti(
            source_addr="MESIJI",
            dest_address=(SmeAddress(1, 1, "254700000001"), SmeAddress(1, 1, "254700000002")),
            short_message=b"to two",
        )
    )

    assert isinstance(data, DataSmResp)
    assert isinstance(multi, SubmitMultiResp)
    assert data.command_status == multi.command_status == 0
    assert data.message_id != multi.message_id
    assert [record.message_id for record in sim.submitted] == [data.message_id, multi.message_id]
    assert sim.submitted[1].outcomes == (Outcome.delivered, Outcome.delivered)
    assert sim.submitted[0].short_message == b""
    assert sim.submitted[0].message_payload == b"payload"


async def test_submitted_keeps_the_pdus_as_received(harness: Harness) -> None:
    sim = await harness.simulator(keep_submitted=3)
    esme = await harness.esme(sim, BindMode.transmitter, system_id="shop")

    for index in range(5):
        await esme.submit(short_message=f"message {index}".encode())

    assert len(sim.submitted) == 3
    record = sim.submitted[-1]
    assert record.system_id == "shop"
    assert isinstance(record.pdu, SubmitSm)
    assert record.pdu.short_message == record.short_message == b"message 4"
    assert record.message_payload is None
    assert record.pdu.destination_addr == "254700000001"


async def test_throttle_every(harness: Harness) -> None:
    sim = await harness.simulator(throttle_every=3)
    esme = await harness.esme(sim, BindMode.transmitter)

    statuses = [(await esme.submit()).command_status for _ in range(7)]

    throttled = CommandStatus.ESME_RTHROTTLED
    assert statuses == [0, 0, throttled, 0, 0, throttled, 0]
    assert sim.stats.throttled == 2
    assert sim.stats.accepted == 5
    assert len(sim.submitted) == 5


async def test_queue_full_every(harness: Harness) -> None:
    sim = await harness.simulator(queue_full_every=2)
    esme = await harness.esme(sim, BindMode.transmitter)

    statuses = [(await esme.submit()).command_status for _ in range(4)]

    full = CommandStatus.ESME_RMSGQFUL
    assert statuses == [0, full, 0, full]
    assert sim.stats.queue_full == 2


async def test_max_tps_throttles_the_excess(harness: Harness, clock: VirtualClock) -> None:
    sim = await harness.simulator(max_tps=20)  # bursts of 2
    esme = await harness.esme(sim, BindMode.transmitter)

    burst = await asyncio.gather(*(esme.submit() for _ in range(5)))
    await clock.advance(0.05)  # one more token
    later = await esme.submit()

    assert [r.command_status for r in burst].count(CommandStatus.ESME_RTHROTTLED) == 3
    assert later.command_status == 0
    assert sim.stats.throttled == 3


async def test_drop_after_closes_the_link(harness: Harness) -> None:
    sim = await harness.simulator(drop_after=3)
    esme = await harness.esme(sim, BindMode.transmitter)

    answered = [await esme.submit() for _ in range(3)]
    await esme.wait_closed()

    assert [r.command_status for r in answered] == [0, 0, 0]
    # No unbind: the connection just went away.
    assert not any(pdu.command_id.name == "unbind" for _, pdu in esme.wire)
    await harness.settle()
    assert sim.stats.binds_active == 0
    # The ESME reconnects and goes on.
    again = await harness.esme(sim, BindMode.transmitter)
    assert (await again.submit()).command_status == 0


async def test_drop_after_with_pipelined_submits(harness: Harness) -> None:
    sim = await harness.simulator(drop_after=2)
    esme = await harness.esme(sim, BindMode.transmitter)

    results = await asyncio.gather(*(esme.submit() for _ in range(6)), return_exceptions=True)

    answered = [r for r in results if isinstance(r, SubmitSmResp)]
    assert len(answered) == 2
    assert sim.stats.accepted == 2
    await esme.wait_closed()


async def test_submit_log_has_one_line_per_accepted_submit(
    harness: Harness, tmp_path: Path
) -> None:
    log = tmp_path / "submits.jsonl"
    sim = await harness.simulator(submit_log=log, throttle_every=5)
    esme = await harness.esme(sim, BindMode.transmitter, system_id="shop")
    parts = split_text("x" * 200, method=ConcatMethod.udh8, reference=42)
    sar_parts = split_text("y" * 200, method=ConcatMethod.sar, reference=513)

    ids = []
    for part in parts:
        response = await esme.submit(short_message=part.short_message, esm_class=0x40)
        ids.append(response.message_id)
    for part in sar_parts:
        assert part.sar is not None
        response = await esme.submit(short_message=part.short_message, tlvs=part_tlvs(part))
        ids.append(response.message_id)
    throttled = await esme.submit()  # the 5th of the bind: not accepted, not logged
    assert throttled.command_status == CommandStatus.ESME_RTHROTTLED
    multi = await esme.conn.request(
        SubmitMulti(
            source_addr="MESIJI",
            dest_address=(SmeAddress(1, 1, "111"), DistributionList("friends")),
            short_message=b"hi",
        )
    )
    assert isinstance(multi, SubmitMultiResp)
    ids.append(multi.message_id)
    await sim.close()

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["message_id"] for line in lines] == ids
    first = lines[0]
    assert first["system_id"] == "shop"
    assert first["command"] == "submit_sm"
    assert first["source_addr"] == "MESIJI"
    assert first["destination_addr"] == "254700000001"
    assert first["esm_class"] == 0x40
    assert first["data_coding"] == 0
    assert bytes.fromhex(first["short_message"]) == parts[0].short_message
    assert first["concat"] == {"method": "udh", "reference": 42, "total": 2, "seqnum": 1}
    assert lines[3]["concat"] == {"method": "sar", "reference": 513, "total": 2, "seqnum": 2}
    assert lines[4]["command"] == "submit_multi"
    assert lines[4]["destinations"] == ["111", "dl:friends"]
    assert lines[4]["concat"] is None
    assert all(line["time"].startswith("2026-01-01T00:00:00") for line in lines)


async def test_submits_from_many_binds_at_once(harness: Harness) -> None:
    sim = await harness.simulator()
    esmes = [await harness.esme(sim, BindMode.transmitter, system_id=f"e{i}") for i in range(4)]

    async with asyncio.timeout(SAFETY):
        results = await asyncio.gather(*(e.submit() for e in esmes for _ in range(25)))

    assert all(r.command_status == 0 for r in results)
    assert len({r.message_id for r in results}) == 100
