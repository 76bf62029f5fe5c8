"""Channels: settings mapped onto the SMPP client, deliveries sorted into receipts and MO."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mesiji.errors import ConfigError
from mesiji.services.channels import Channel, client_settings
from mesiji.settings import ChannelSettings
from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.smpp.client import BindKind
from mesiji.smpp.pdus import DataSm, DeliverSm, SubmitSm
from mesiji.testing import VirtualClock, memory_connector
from mesiji.text import ConcatMethod


class Sink:
    def __init__(self) -> None:
        self.receipts: list[tuple[str, DeliverSm | DataSm]] = []

    async def handle(self, channel: str, pdu: DeliverSm | DataSm) -> None:
        self.receipts.append((channel, pdu))


def test_channel_settings_become_client_settings() -> None:
    settings = ChannelSettings(
        name="magti",
        host="10.0.0.5",
        port=2776,
        system_id="mesiji",
        password="pw",
        system_type="SMS",
        bind="pair",
        sessions=3,
        window=50,
        tps=200.0,
        enquire_link_interval=15.0,
        response_timeout=4.0,
    )
    client = client_settings(settings)
    assert (client.host, client.port, client.system_id, client.password) == (
        "10.0.0.5",
        2776,
        "mesiji",
        "pw",
    )
    assert client.system_type == "SMS"
    assert client.bind is BindKind.pair
    assert client.sessions == 3
    assert client.link.window == 50
    assert client.link.response_timeout == 4.0
    assert client.link.enquire_link_interval == 15.0
    assert client.tps == 200.0


def test_no_tps_cap_is_none() -> None:
    assert client_settings(ChannelSettings(tps=0.0)).tps is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("bind", "sideways"), ("bind", "receiver"), ("window", 0), ("sessions", 0)],
)
def test_impossible_channel_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigError):
        client_settings(ChannelSettings(**{field: value}))  # type: ignore[arg-type]


def test_text_policy_comes_from_the_settings() -> None:
    channel = Channel(ChannelSettings(concat="sar", allow_latin1=True), receipts=Sink())
    assert channel.concat is ConcatMethod.sar
    assert channel.allow_latin1
    assert channel.capacity == 100
    with pytest.raises(ConfigError, match="concat"):
        Channel(ChannelSettings(concat="zip"), receipts=Sink())


async def test_receipts_go_to_the_sink_and_mo_is_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock()
    sink = Sink()
    sim = SmscSimulator(SimulatorSettings(receipt_delay=1.0), clock=clock)
    await sim.start(listen=False)
    try:
        channel = Channel(
            ChannelSettings(name="sim", port=0),
            receipts=sink,
            clock=clock,
            connector=memory_connector(sim.new_connection),
        )
        assert channel.name == "sim"
        channel.start()
        try:
            await asyncio.wait_for(channel.wait_bound(), 5)
            assert channel.bound
            with caplog.at_level(logging.INFO, logger="mesiji.services.channels"):
                await asyncio.wait_for(sim.send_mo("mesiji", "995599123456", "Mesiji", "STOP"), 5)
            assert channel.mo_received == 1
            assert "MO message from 995599123456" in caplog.text
            assert sink.receipts == []
            await channel.submit(
                SubmitSm(destination_addr="995599123456", registered_delivery=1, short_message=b"x")
            )
            await clock.advance(0.99)
            assert sink.receipts == []
            await clock.advance(0.01)
            assert len(sink.receipts) == 1
            assert sink.receipts[0][0] == "sim"
        finally:
            await channel.close()
    finally:
        await sim.close()
