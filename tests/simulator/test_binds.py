"""Binds of every kind, credentials, bind_resp contents and polite shutdown (SMPP 3.4 §4.1-4.2)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from mesiji.errors import ConfigError
from mesiji.simulator import DEFAULT_SYSTEM_ID, SimulatorSettings, SmscSimulator
from mesiji.smpp import tlv
from mesiji.smpp.constants import BindMode, CommandId, CommandStatus
from mesiji.smpp.pdus import (
    BindReceiverResp,
    BindResp,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    SubmitSm,
    SubmitSmResp,
)
from mesiji.smpp.session import SessionState

from .conftest import Harness

_RESP = {
    BindMode.transmitter: BindTransmitterResp,
    BindMode.receiver: BindReceiverResp,
    BindMode.transceiver: BindTransceiverResp,
}


@pytest.mark.parametrize("mode", list(BindMode))
async def test_any_bind_is_accepted_without_credentials(harness: Harness, mode: BindMode) -> None:
    sim = await harness.simulator()
    esme = await harness.connect(sim)

    response = await esme.bind(mode, system_id="whoever", password="anything")

    assert type(response) is _RESP[mode]
    assert response.command_status == CommandStatus.ESME_ROK
    assert isinstance(response, BindResp)
    assert response.system_id == DEFAULT_SYSTEM_ID
    # SMPP 3.4 §5.3.2.25: an SMSC tells a 3.4 ESME which version it speaks.
    assert response.tlv(tlv.sc_interface_version) == 0x34
    await harness.settle()
    assert sim.stats.binds_active == 1
    assert sim.stats.binds_total == 1


async def test_configured_credentials(harness: Harness) -> None:
    sim = await harness.simulator(credentials={"alice": "s3cret", "bob": "hunter2"})

    good = await (await harness.connect(sim)).bind(BindMode.transmitter, "alice", "s3cret")
    wrong_password = await (await harness.connect(sim)).bind(BindMode.receiver, "bob", "s3cret")
    unknown = await (await harness.connect(sim)).bind(BindMode.transceiver, "carol", "x")

    assert good.command_status == CommandStatus.ESME_ROK
    assert wrong_password.command_status == CommandStatus.ESME_RINVPASWD
    assert unknown.command_status == CommandStatus.ESME_RINVSYSID
    await harness.settle()
    assert sim.stats.binds_active == 1
    assert sim.stats.binds_refused == 2


async def test_refused_bind_may_be_retried_on_the_same_connection(harness: Harness) -> None:
    sim = await harness.simulator(credentials={"alice": "s3cret"})
    esme = await harness.connect(sim)

    assert (await esme.bind(BindMode.transceiver, "alice", "nope")).command_status != 0
    assert (await esme.bind(BindMode.transceiver, "alice", "s3cret")).command_status == 0
    assert esme.conn.session.state is SessionState.bound_trx


async def test_pre_34_esme_gets_no_tlv_in_bind_resp(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.connect(sim)

    response = await esme.conn.request(BindTransmitter(system_id="old", interface_version=0x33))

    assert response.command_status == 0
    assert response.tlvs == ()


async def test_many_binds_at_once(harness: Harness) -> None:
    sim = await harness.simulator()
    for index in range(12):
        await harness.esme(sim, list(BindMode)[index % 3], system_id=f"esme{index % 4}")

    assert sim.stats.binds_active == 12


async def test_submit_on_a_receiver_bind_is_refused(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim, BindMode.receiver)

    # Our own session would refuse to send it (§2.3), so write it past the session.
    esme.conn.send(
        SubmitSm(sequence_number=77, destination_addr="1", short_message=b"x"), unchecked=True
    )
    await esme.wait_for(lambda: any(isinstance(pdu, SubmitSmResp) for _, pdu in esme.wire))

    response = next(pdu for _, pdu in esme.wire if isinstance(pdu, SubmitSmResp))
    assert response.sequence_number == 77
    assert response.command_status == CommandStatus.ESME_RINVBNDSTS
    assert sim.stats.submit_sm == 0


async def test_close_unbinds_every_esme_politely(harness: Harness) -> None:
    sim = await harness.simulator()
    first = await harness.esme(sim, BindMode.transmitter)
    second = await harness.esme(sim, BindMode.receiver)

    await sim.close()

    for esme in (first, second):
        await esme.wait_closed()
        received = [pdu.command_id for direction, pdu in esme.wire if direction == "<"]
        sent = [pdu.command_id for direction, pdu in esme.wire if direction == ">"]
        assert received[-1] == CommandId.unbind
        assert sent[-1] == CommandId.unbind_resp
    assert sim.stats.binds_active == 0


async def test_esme_unbind_and_disconnect_are_noticed(harness: Harness) -> None:
    sim = await harness.simulator()
    esme = await harness.esme(sim)
    other = await harness.esme(sim)

    await esme.conn.unbind()
    other.conn.close()
    await esme.wait_closed()
    await other.wait_closed()
    await harness.settle()

    assert sim.stats.binds_active == 0
    assert sim.stats.binds_total == 2


async def test_a_taken_port_is_reported_and_nothing_leaks(harness: Harness, tmp_path: Path) -> None:
    # The listening socket is this test's subject: a real port.
    sim = await harness.simulator(listen=True)
    clash = SmscSimulator(SimulatorSettings(port=sim.port, submit_log=tmp_path / "log"))

    with pytest.raises(OSError, match=r"(?i)in use") as error:
        await clash.start()
    assert error.value.errno == errno.EADDRINUSE
    await clash.close()
    with pytest.raises(ConfigError):
        _ = clash.port
