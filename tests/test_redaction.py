"""Secrets never show in the repr of the objects that carry them (logs, tracebacks)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from mesiji.settings import ChannelSettings, DatabaseSettings, Settings, load_settings
from mesiji.simulator.settings import SimulatorSettings
from mesiji.smpp.client import ClientSettings
from mesiji.smpp.pdus import PDU_CLASSES, Pdu
from mesiji.storage.records import Account, AccountStatus, NewAccount

SECRET = "s3cr3t-Xq"


def test_settings_hide_the_smpp_password_and_the_database_url() -> None:
    settings = load_settings(
        environ={
            "MESIJI_CHANNELS__0__PASSWORD": SECRET,
            "MESIJI_DATABASE__URL": f"postgresql://mesiji:{SECRET}@db/mesiji",
        }
    )
    assert settings.channels[0].password == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in repr(ChannelSettings(password=SECRET))
    assert SECRET not in repr(DatabaseSettings(url=f"postgresql://u:{SECRET}@h/db"))
    assert "system_id='mesiji'" in repr(Settings())


def test_client_and_simulator_settings_hide_passwords() -> None:
    client = ClientSettings(host="127.0.0.1", port=2775, system_id="mesiji", password=SECRET)
    assert SECRET not in repr(client)
    assert SECRET not in repr(SimulatorSettings(credentials={"mesiji": SECRET}))


def test_accounts_hide_their_webhook_secret() -> None:
    assert SECRET not in repr(NewAccount(name="Shop", webhook_secret=SECRET))
    account = Account(
        id=1,
        name="Shop",
        website=None,
        contact_email=None,
        contact_phone=None,
        status=AccountStatus.ACTIVE,
        balance=0,
        price_per_segment=1,
        allowed_regions=("GE",),
        api_enabled=True,
        webhook_secret=SECRET,
        callback_url=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert SECRET not in repr(account)


@pytest.mark.parametrize(
    "pdu_class",
    [
        cls
        for cls in PDU_CLASSES.values()
        if "password" in {f.name for f in dataclasses.fields(cls)}
    ],
    ids=lambda cls: cls.__name__,
)
def test_pdus_show_their_password_as_stars(pdu_class: type[Pdu]) -> None:
    pdu = pdu_class(system_id="mesiji", password=SECRET)  # type: ignore[call-arg]
    shown = repr(pdu)
    assert SECRET not in shown
    assert shown.startswith(f"{pdu_class.__name__}(sequence_number=0, ")
    assert "system_id='mesiji', password='***'" in shown
