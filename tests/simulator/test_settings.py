"""Settings validation and the outcome picker."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from mesiji.errors import ConfigError
from mesiji.simulator import Outcome, OutcomePicker, SimulatorSettings, wants_receipt


def test_defaults_are_a_well_behaved_smsc() -> None:
    settings = SimulatorSettings()
    assert settings.port == 2775
    assert dict(settings.outcomes) == {Outcome.delivered: 1.0}
    assert settings.credentials is None
    assert settings.throttle_every is None
    assert settings.link_settings().window == 100


def test_outcome_names_are_accepted_as_keys() -> None:
    weights: Any = {"delivered": 9, "rejected": 1}
    settings = SimulatorSettings(outcomes=weights)
    assert dict(settings.outcomes) == {Outcome.delivered: 9.0, Outcome.rejected: 1.0}


@pytest.mark.parametrize(
    "bad",
    [
        {"outcomes": {"lost": 1}},
        {"outcomes": {Outcome.delivered: 0}},
        {"outcomes": {Outcome.delivered: -1, Outcome.expired: 2}},
        {"throttle_every": 0},
        {"drop_after": 0},
        {"max_tps": 0},
        {"window": 0},
        {"port": 70000},
        {"receipt_delay": -1},
        {"max_delivery_attempts": 0},
    ],
)
def test_impossible_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SimulatorSettings(**bad)


def test_picker_follows_the_weights() -> None:
    picker = OutcomePicker({Outcome.delivered: 3, Outcome.expired: 1, Outcome.rejected: 0}, 5)
    counts = Counter(picker.pick() for _ in range(4000))
    assert set(counts) == {Outcome.delivered, Outcome.expired}
    assert 2800 < counts[Outcome.delivered] < 3200


def test_registered_delivery_bits() -> None:
    # SMPP 3.4 §5.2.17: 0x01 always, 0x02 on failure only, bits 4 (intermediate) ignored.
    assert wants_receipt(0x01, Outcome.delivered)
    assert wants_receipt(0x11, Outcome.rejected)
    assert not wants_receipt(0x02, Outcome.delivered)
    assert wants_receipt(0x02, Outcome.expired)
    assert not wants_receipt(0x10, Outcome.undelivered)
    assert not wants_receipt(0x00, Outcome.undelivered)
