"""The life cycle of a message and of its parts.

A message is split into parts (SMS segments), and each part lives on its own::

    queued ──> submitting ──> in_transit ──> delivered | undelivered | expired | rejected
      │  ^          │                 │
      │  └──────────┤                 └──> unknown (no receipt in time, or its id reused)
      │             └──> rejected | failed | unknown (accepted without a message_id)
      └──> expired | failed | cancelled

``submitting`` means a dispatcher has claimed the part and its submit_sm is in flight;
``in_transit`` (გზაშია) that the SMSC accepted it (submit_sm_resp OK) and no final receipt
has come yet. ``rejected`` is a refusal by the SMSC or the operator (an error
submit_sm_resp or a REJECTD receipt); ``failed`` a part the gateway could not submit (a
permanent error, or attempts exhausted). ``cancelled`` is a part the client withdrew while it
was still queued: no dispatcher had claimed it, so the SMSC never saw it.

Final statuses stay final, with two exceptions: ``expired`` may become ``delivered``, and
``unknown`` (below) what a late receipt says. A receipt can arrive long after the gateway
gave up waiting for it: an SMSC stores and forwards for the whole validity period (often 72
hours), retrying a handset that is off and delivering when it comes back, and only then
sends the receipt; during the seed's backup channel weeks no receipts came at all.
Gateways therefore treat "no receipt in time" as a guess (Bandwidth's DLR_TIMEOUT status),
and a DELIVRD receipt, the handset's own word, wins over it. UNDELIV or REJECTD after an
expiry tells a client nothing new and is ignored.

``unknown`` (უცნობია) is the honest end of a part the SMSC took whose fate the gateway cannot
learn: no receipt came within ``dispatch.receipt_wait_seconds``, the SMSC answered the
submit_sm with an empty message_id (no receipt can ever be matched to it), or the SMSC gave
its message_id to a newer part while this one was still in transit (receipts for that id go
to the newer part). The SMSC took it, so it is paid for. Like ``expired``, it is a guess that
a receipt may still correct: a late receipt moves an ``unknown`` part to what it says.

A message's status is derived from its parts by :func:`derive_message_status`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from mesiji.domain.delivery import DeliveryState

__all__ = [
    "AWAITING_RECEIPT",
    "FINAL_ORDER",
    "MessageStatus",
    "PartStatus",
    "can_transition",
    "cancellable",
    "derive_message_status",
    "is_final",
    "part_status_from_receipt",
    "statuses_before",
]


class _Labelled:
    """The interface words of a status; ``str()`` of a StrEnum member is its value."""

    @property
    def label_en(self) -> str:
        """The English word for the interface."""
        return _LABELS[str(self)][0]

    @property
    def label_ka(self) -> str:
        """The Georgian word for the interface."""
        return _LABELS[str(self)][1]


class PartStatus(_Labelled, StrEnum):
    """Where one part (SMS segment) of a message is."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class MessageStatus(_Labelled, StrEnum):
    """Where a message is, as clients see it: derived from its parts."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


# Keyed by value, shared by both enums. გზაშია, მიტანილია and ვერ მიიტანა are the glossary's.
_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "accepted": ("accepted", "მიღებულია"),
        "queued": ("queued", "რიგშია"),
        "scheduled": ("scheduled", "დაგეგმილია"),
        "submitting": ("sending", "იგზავნება"),
        "in_transit": ("in transit", "გზაშია"),
        "delivered": ("delivered", "მიტანილია"),
        "undelivered": ("undelivered", "ვერ მიიტანა"),
        "expired": ("expired", "ვადა გაუვიდა"),
        "rejected": ("rejected", "უარყოფილია"),
        "failed": ("failed", "ვერ გაიგზავნა"),
        "cancelled": ("cancelled", "გაუქმებულია"),
        "unknown": ("unknown", "უცნობია"),
    }
)

_P = PartStatus
_TRANSITIONS: Mapping[PartStatus, frozenset[PartStatus]] = MappingProxyType(
    {
        _P.QUEUED: frozenset({_P.SUBMITTING, _P.EXPIRED, _P.FAILED, _P.CANCELLED}),
        _P.SUBMITTING: frozenset({_P.QUEUED, _P.IN_TRANSIT, _P.REJECTED, _P.FAILED, _P.UNKNOWN}),
        _P.IN_TRANSIT: frozenset(
            {_P.DELIVERED, _P.UNDELIVERED, _P.EXPIRED, _P.REJECTED, _P.UNKNOWN}
        ),
        _P.DELIVERED: frozenset(),
        _P.UNDELIVERED: frozenset(),
        _P.EXPIRED: frozenset({_P.DELIVERED}),
        _P.REJECTED: frozenset(),
        _P.FAILED: frozenset(),
        _P.CANCELLED: frozenset(),
        _P.UNKNOWN: frozenset({_P.DELIVERED, _P.UNDELIVERED, _P.EXPIRED, _P.REJECTED}),
    }
)
_FINAL = frozenset(
    {_P.DELIVERED, _P.UNDELIVERED, _P.EXPIRED, _P.REJECTED, _P.FAILED, _P.CANCELLED, _P.UNKNOWN}
)
# Statuses that show the SMSC has seen the part; EXPIRED counts though a part can also expire
# in the queue, because the status alone does not say which.
_SEEN_BY_SMSC = frozenset(
    {_P.IN_TRANSIT, _P.DELIVERED, _P.UNDELIVERED, _P.EXPIRED, _P.REJECTED, _P.UNKNOWN}
)

#: Parts waiting for a receipt: given up as ``unknown`` when none comes in time.
AWAITING_RECEIPT: frozenset[PartStatus] = frozenset({_P.IN_TRANSIT})

#: Final part statuses from worst to best: a message whose parts all ended takes the worst.
#: The order follows how early the part stopped and so how much the client must change:
#: ``failed`` never left the gateway, ``rejected`` was refused at the door (often a sender
#: the operator has not authorised), ``undelivered`` was tried and refused by the network or
#: handset (often a dead number), ``expired`` was tried until the validity period ran out
#: (often a phone switched off, which may work next time), ``unknown`` went out and no word
#: of its fate came (it may well have arrived). ``cancelled`` comes first: parts are only
#: ever cancelled all together (see :func:`cancellable`), so it never meets another.
FINAL_ORDER: tuple[PartStatus, ...] = (
    _P.CANCELLED,
    _P.FAILED,
    _P.REJECTED,
    _P.UNDELIVERED,
    _P.EXPIRED,
    _P.UNKNOWN,
    _P.DELIVERED,
)

_RECEIPT_STATES: Mapping[DeliveryState, PartStatus] = MappingProxyType(
    {
        DeliveryState.DELIVERED: _P.DELIVERED,
        DeliveryState.UNDELIVERED: _P.UNDELIVERED,
        DeliveryState.EXPIRED: _P.EXPIRED,
        # Deleted from the SMSC (cancel_sm or an administrator) before delivery: it will not
        # arrive, and nobody refused it, so it counts as undelivered.
        DeliveryState.DELETED: _P.UNDELIVERED,
        DeliveryState.REJECTED: _P.REJECTED,
    }
)


def is_final(status: PartStatus) -> bool:
    """Whether a part has ended (delivered, undelivered, expired, rejected, failed, cancelled
    or unknown)."""
    return status in _FINAL


def can_transition(current: PartStatus, new: PartStatus) -> bool:
    """Whether a part may move from ``current`` to ``new``.

    A status to itself is not a transition and gives False: a repeated receipt or a retried
    update is a no-op for the caller to skip, not an error.
    """
    return new in _TRANSITIONS[current]


def statuses_before(new: PartStatus) -> frozenset[PartStatus]:
    """Every status a part may move to ``new`` from: the guard of a storage update."""
    return frozenset(current for current, moves in _TRANSITIONS.items() if new in moves)


def cancellable(parts: Sequence[PartStatus]) -> bool:
    """Whether a message with these parts may be cancelled: it has parts and every one of
    them may still move to ``cancelled``.

    A message is cancelled whole or not at all: once one part was claimed by a dispatcher
    (``submitting``) or reached the SMSC, the others would arrive as a fragment of a text
    the recipient could not read, so it goes on.
    """
    return bool(parts) and all(can_transition(p, PartStatus.CANCELLED) for p in parts)


def part_status_from_receipt(state: DeliveryState) -> PartStatus | None:
    """The part status a delivery receipt moves to, or None for an intermediate receipt.

    ENROUTE, ACCEPTED and UNKNOWN leave the part in transit (see
    :attr:`DeliveryState.is_final`); DELETED counts as undelivered.
    """
    return _RECEIPT_STATES.get(state)


def derive_message_status(
    parts: Sequence[PartStatus],
    *,
    send_at: datetime | None = None,
    now: datetime | None = None,
) -> MessageStatus:
    """A message's status from the statuses of all its parts, in any order.

    - no parts yet: ``accepted`` (the request is taken, not yet split and queued);
    - every part final: ``delivered`` if all are delivered, else the worst final status of
      :data:`FINAL_ORDER`;
    - some part not final: ``in_transit`` once any part has reached the SMSC, else ``queued``,
      or ``scheduled`` when ``send_at`` is after ``now`` (pass both, as aware datetimes).
    """
    if not parts:
        return MessageStatus.ACCEPTED
    present = frozenset(parts)
    if present <= _FINAL:
        worst = next(status for status in FINAL_ORDER if status in present)
        return MessageStatus(worst.value)
    if present & _SEEN_BY_SMSC:
        return MessageStatus.IN_TRANSIT
    if send_at is not None:
        if now is None:
            raise ValueError("send_at needs now to compare with")
        if send_at > now:
            return MessageStatus.SCHEDULED
    return MessageStatus.QUEUED
