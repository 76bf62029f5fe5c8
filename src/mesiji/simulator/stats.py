"""What the simulator has seen and done: live counters and the snapshots handed out of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mesiji.simulator.settings import Outcome
from mesiji.smpp.pdus import DataSm, SubmitMulti, SubmitSm
from mesiji.smpp.tlv import message_payload

__all__ = ["Counters", "SimulatorStats", "SubmittedMessage"]

#: The PDUs that submit a message (SMPP 3.4 §4.4, §4.5, §4.7).
SubmitPdu = SubmitSm | DataSm | SubmitMulti


@dataclass(frozen=True, slots=True)
class SubmittedMessage:
    """One accepted submit as it arrived on the wire."""

    message_id: str
    system_id: str
    pdu: SubmitPdu
    #: Monotonic time (of the simulator's clock) of its arrival.
    received: float
    #: The outcome drawn for each destination (several for submit_multi).
    outcomes: tuple[Outcome, ...]

    @property
    def short_message(self) -> bytes:
        """The PDU's short_message; empty for data_sm, which has none (SMPP 3.4 §4.7.1)."""
        pdu = self.pdu
        return b"" if isinstance(pdu, DataSm) else pdu.short_message

    @property
    def message_payload(self) -> bytes | None:
        """The message_payload TLV (SMPP 3.4 §5.3.2.32), if the PDU carries one."""
        return self.pdu.tlv(message_payload)


@dataclass(frozen=True, slots=True)
class SimulatorStats:
    """A snapshot of the simulator's counters."""

    binds_total: int
    binds_active: int
    binds_refused: int
    #: submit_sm, data_sm and submit_multi received, accepted or not.
    submit_sm: int
    #: Of those, the ones given a message_id.
    accepted: int
    #: Answered ESME_RTHROTTLED (throttle_every or max_tps).
    throttled: int
    #: Answered ESME_RMSGQFUL (queue_full_every).
    queue_full: int
    #: Receipt deliver_sm written, redeliveries included.
    receipts_sent: int
    receipts_acked: int
    #: Receipts created and neither acknowledged nor given up: scheduled, queued or in flight.
    receipts_pending: int
    receipts_dropped: int
    #: Mobile-originated deliver_sm written, redeliveries included.
    mo_sent: int
    mo_acked: int
    outcomes: Mapping[Outcome, int]
    #: Monotonic times of the first and last accepted submit.
    first_submit: float | None
    last_submit: float | None

    @property
    def submit_rate(self) -> float | None:
        """Accepted submits per second between the first and the last one."""
        if self.first_submit is None or self.last_submit is None:
            return None
        span = self.last_submit - self.first_submit
        if span <= 0 or self.accepted < 2:
            return None
        return (self.accepted - 1) / span

    def summary(self) -> str:
        """One line for humans (the CLI prints it)."""
        rate = self.submit_rate
        outcomes = " ".join(f"{o}={n}" for o, n in self.outcomes.items() if n)
        return (
            f"binds={self.binds_active}/{self.binds_total} submits={self.submit_sm}"
            f" accepted={self.accepted} throttled={self.throttled} queue_full={self.queue_full}"
            f" receipts sent={self.receipts_sent} acked={self.receipts_acked}"
            f" pending={self.receipts_pending} dropped={self.receipts_dropped}"
            f" mo={self.mo_acked}/{self.mo_sent}"
            + (f" rate={rate:.0f}/s" if rate is not None else "")
            + (f" [{outcomes}]" if outcomes else "")
        )


class Counters:
    """The live counters, bumped in place on the hot path (plain attributes, no locking)."""

    __slots__ = (
        "accepted",
        "binds_active",
        "binds_refused",
        "binds_total",
        "first_submit",
        "last_submit",
        "mo_acked",
        "mo_sent",
        "outcomes",
        "queue_full",
        "receipts_acked",
        "receipts_created",
        "receipts_dropped",
        "receipts_sent",
        "submit_sm",
        "throttled",
    )

    def __init__(self) -> None:
        self.binds_total = 0
        self.binds_active = 0
        self.binds_refused = 0
        self.submit_sm = 0
        self.accepted = 0
        self.throttled = 0
        self.queue_full = 0
        self.receipts_created = 0
        self.receipts_sent = 0
        self.receipts_acked = 0
        self.receipts_dropped = 0
        self.mo_sent = 0
        self.mo_acked = 0
        self.outcomes = dict.fromkeys(Outcome, 0)
        self.first_submit: float | None = None
        self.last_submit: float | None = None

    def snapshot(self) -> SimulatorStats:
        """The counters as they are now."""
        return SimulatorStats(
            binds_total=self.binds_total,
            binds_active=self.binds_active,
            binds_refused=self.binds_refused,
            submit_sm=self.submit_sm,
            accepted=self.accepted,
            throttled=self.throttled,
            queue_full=self.queue_full,
            receipts_sent=self.receipts_sent,
            receipts_acked=self.receipts_acked,
            receipts_pending=self.receipts_created - self.receipts_acked - self.receipts_dropped,
            receipts_dropped=self.receipts_dropped,
            mo_sent=self.mo_sent,
            mo_acked=self.mo_acked,
            outcomes=MappingProxyType(dict(self.outcomes)),
            first_submit=self.first_submit,
            last_submit=self.last_submit,
        )
