"""/metrics of a whole gateway: every family documented, counters moving as a message travels."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mesiji.bootstrap import Gateway
from mesiji.domain.keys import generate_api_key
from mesiji.settings import ChannelSettings, Settings
from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.storage.records import NewAccount, SenderStatus
from mesiji.testing import eventually


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient, str]]:
    async with SmscSimulator(SimulatorSettings(port=0, receipt_delay=0.0)) as simulator:
        settings = Settings(
            data_dir=tmp_path,
            channels=(ChannelSettings(name="sim", port=simulator.port),),
        )
        gateway = await Gateway.open(settings)
        account = await gateway.store.create_account(NewAccount(name="Shop LLC"))
        await gateway.store.add_credits(account.id, 10, "test")
        await gateway.store.set_sender(account.id, "Shop", SenderStatus.ACTIVE)
        key = generate_api_key()
        await gateway.store.create_api_key(account.id, key.key_hash, key.prefix, "test")
        gateway.start()
        transport = httpx.ASGITransport(app=gateway.app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
                yield gateway, client, key.secret
        finally:
            await gateway.close()


async def _scrape(client: httpx.AsyncClient) -> tuple[str, dict[tuple[str, str], float]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    samples = {
        (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


async def test_every_family_has_help_and_type(
    gateway: tuple[Gateway, httpx.AsyncClient, str],
) -> None:
    _, client, _ = gateway
    text, _ = await _scrape(client)
    families = list(text_string_to_metric_families(text))
    names = {family.name for family in families}
    assert {
        "mesiji_messages_accepted",
        "mesiji_message_statuses",
        "mesiji_dispatch_submitted",
        "mesiji_channel_bound",
        "mesiji_receipts_stored",
        "mesiji_callbacks_attempted",
        "process_resident_memory_bytes",
    } <= names
    for family in families:
        # A counter's lines name its samples: mesiji_receipts_stored_total.
        name = re.escape(family.name) + ("_total" if family.type == "counter" else "")
        assert re.search(rf"^# HELP {name} \S", text, re.MULTILINE), family.name
        assert re.search(rf"^# TYPE {name} {family.type}$", text, re.MULTILINE), family.name
    assert "_created" not in text


async def test_counters_move_as_a_message_is_sent_and_delivered(
    gateway: tuple[Gateway, httpx.AsyncClient, str],
) -> None:
    gw, client, key = gateway
    await eventually(lambda: all(channel.bound for channel in gw.channels))
    _, before = await _scrape(client)
    response = await client.post(
        "/v1/messages",
        headers={"Authorization": f"Bearer {key}"},
        json={"to": "599000001", "sender": "Shop", "text": "hello"},
    )
    assert response.status_code == 201, response.text
    await eventually(lambda: gw.receipts.stored == 1)
    _, after = await _scrape(client)

    def moved(name: str, labels: str = "") -> float:
        return after[name, labels] - before.get((name, labels), 0.0)

    assert moved("mesiji_messages_accepted_total") == 1
    assert moved("mesiji_accept_groups_total") == 1
    assert moved("mesiji_dispatch_claimed_total", "channel=sim") == 1
    assert moved("mesiji_dispatch_submitted_total", "channel=sim") == 1
    assert moved("mesiji_receipts_stored_total") == 1
    assert moved("mesiji_message_statuses_total", "status=in_transit") == 1
    assert moved("mesiji_message_statuses_total", "status=delivered") == 1
    assert moved("mesiji_message_statuses_total", "status=failed") == 0
    assert after["mesiji_channel_bound", "channel=sim"] == 1


async def test_openmetrics_is_served_to_a_scraper_that_asks(
    gateway: tuple[Gateway, httpx.AsyncClient, str],
) -> None:
    _, client, _ = gateway
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
