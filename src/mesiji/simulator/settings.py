"""What the simulated SMSC does: where it listens, whom it accepts, how it answers and fails."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from mesiji.errors import ConfigError
from mesiji.smpp.connection import LinkSettings

__all__ = ["DEFAULT_SYSTEM_ID", "Outcome", "SimulatorSettings"]

#: The system_id the simulator gives in every bind_resp (SMPP 3.4 §4.1.2).
DEFAULT_SYSTEM_ID = "MESIJI-SIM"


class Outcome(StrEnum):
    """The fate the simulator gives a submitted message, reported by its delivery receipt."""

    delivered = "delivered"
    undelivered = "undelivered"
    expired = "expired"
    rejected = "rejected"

    @property
    def is_failure(self) -> bool:
        """Whether a receipt "on failure only" (registered_delivery 0x02) reports it."""
        return self is not Outcome.delivered


def _all_delivered() -> Mapping[Outcome, float]:
    return MappingProxyType({Outcome.delivered: 1.0})


@dataclass(frozen=True, kw_only=True)
class SimulatorSettings:
    """Settings of one :class:`~mesiji.simulator.SmscSimulator`.

    Fault injection (``throttle_every``, ``max_tps``, ``queue_full_every``, ``drop_after``,
    ``receipt_before_response``) is off by default: the default simulator is a well-behaved
    SMSC that delivers everything and answers every receipt request after ``receipt_delay``.
    """

    host: str = "127.0.0.1"
    #: 0 binds an ephemeral port; read it back from ``SmscSimulator.port``.
    port: int = 2775
    #: system_id -> password; None accepts any bind.
    credentials: Mapping[str, str] | None = field(default=None, repr=False)
    #: Seconds between a submit and its delivery receipt.
    receipt_delay: float = 0.5
    #: Relative weights of the outcomes; those left out never happen.
    outcomes: Mapping[Outcome, float] = field(default_factory=_all_delivered)
    #: Seed of the outcome draws, for reproducible runs; None draws from the OS.
    seed: int | None = None
    #: Answer every Nth submit of a bind with ESME_RTHROTTLED (0x58).
    throttle_every: int | None = None
    #: Answer submits above this rate per bind with ESME_RTHROTTLED.
    max_tps: float | None = None
    #: Answer every Nth submit of a bind with ESME_RMSGQFUL (0x14).
    queue_full_every: int | None = None
    #: Close the TCP connection, without unbind, once a bind has sent this many submits.
    drop_after: int | None = None
    #: Send each receipt before the submit_sm_resp that carries its message_id.
    receipt_before_response: bool = False
    #: Outstanding deliver_sm per bind, at most (SMPP 3.4 §2.5 windowing).
    window: int = 100
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    #: Seconds before a deliver_sm refused or unanswered by the ESME is sent again.
    redelivery_delay: float = 5.0
    #: Attempts at one deliver_sm before it is given up.
    max_delivery_attempts: int = 5
    #: Append one JSON line per accepted submit to this file.
    submit_log: str | os.PathLike[str] | None = None
    #: How many recent submits ``SmscSimulator.submitted`` keeps.
    keep_submitted: int = 10_000
    #: The system_id in bind_resp.
    system_id: str = DEFAULT_SYSTEM_ID
    #: First message_id (as a number); None picks a random one so ids stay unique across runs.
    message_id_base: int | None = None

    def __post_init__(self) -> None:
        weights: dict[Outcome, float] = {}
        for key, weight in self.outcomes.items():
            try:
                outcome = Outcome(key)
            except ValueError:
                raise ConfigError(f"unknown outcome {key!r}") from None
            if not (weight >= 0 and math.isfinite(weight)):
                raise ConfigError(f"outcome weight {key}={weight} must be a finite number >= 0")
            weights[outcome] = float(weight)
        if sum(weights.values()) <= 0:
            raise ConfigError("at least one outcome needs a positive weight")
        object.__setattr__(self, "outcomes", MappingProxyType(weights))
        if self.credentials is not None:
            object.__setattr__(self, "credentials", MappingProxyType(dict(self.credentials)))
        self._check()

    def _check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is not within 0..65535")
        for name in ("throttle_every", "queue_full_every", "drop_after"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, not {value}")
        if self.max_tps is not None and not self.max_tps > 0:
            raise ConfigError(f"max_tps must be positive, not {self.max_tps}")
        for name in ("receipt_delay", "redelivery_delay"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0")
        for name in ("enquire_link_interval", "response_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive")
        if not 1 <= self.window <= 100_000:
            raise ConfigError(f"window {self.window} must be between 1 and 100000")
        if self.max_delivery_attempts < 1:
            raise ConfigError("max_delivery_attempts must be at least 1")
        if self.keep_submitted < 0:
            raise ConfigError("keep_submitted must be >= 0")
        if self.message_id_base is not None and self.message_id_base < 0:
            raise ConfigError("message_id_base must be >= 0")

    def link_settings(self) -> LinkSettings:
        """The settings of each connection the simulator accepts."""
        return LinkSettings(
            window=self.window,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
        )
