"""The life cycle of parts and messages as one table: ``(part state, event) -> (state, effects)``.

Every store asks this module what an event does and applies the answer with generic writes;
no store decides a status, a refund or a callback on its own. The table is pure data, read by
:func:`step`; a (state, event) pair it lacks is no transition, so a repeated or late event
(a second receipt, a submit result after the lease was taken over) changes nothing.

=========== ====================== =========== ==================================================
part state  event                  new state   effects
=========== ====================== =========== ==================================================
queued      claimed                submitting  take lease
queued      expired_in_queue       expired     final, refund, stamp done
queued      cancelled              cancelled   final, refund, stamp done, release lease
queued      attempts_exhausted     failed      final, refund, release lease, stamp done, keep error
submitting  claimed                submitting  take lease (its lease ran out: taken over)
submitting  released               queued      release lease
submitting  submit_ok              in_transit  release lease, stamp submitted, keep SMSC id
submitting  submit_ok_without_id   unknown     final, release lease, stamp submitted+done,
                                               keep error
submitting  submit_temporary_error queued      release lease, keep error
submitting  submit_rejected        rejected    final, refund, release lease, stamp done,
                                               keep error
submitting  submit_permanent_error failed      (as submit_rejected)
submitting  attempts_exhausted     failed      (as submit_rejected)
submitting  expired_in_queue       expired     final, refund, stamp done (lease ran out past
                                               the validity: it is not sent again)
in_transit  receipt_<final>        <final>     final, stamp done, keep error (delivered: clear)
in_transit  receipt_wait_over      unknown     final, stamp done, error NO_RECEIPT
in_transit  id_reused              unknown     final, stamp done, forget SMSC id,
                                               error MESSAGE_ID_REUSED
expired     receipt_delivered      delivered   stamp done, clear error (correction)
unknown     receipt_<final>        <final>     stamp done, keep error (correction)
=========== ====================== =========== ==================================================

``receipt_intermediate`` (enroute, accepted) has no row anywhere: it changes nothing. The two
corrections are the exceptions to "final stays final" of :mod:`mesiji.domain.statuses`; the
rows otherwise follow its transitions, plus the lease take-over and the expiry of a part
whose dispatcher died past the message's validity.

A message is the tally of its parts' states (:class:`MessageState`): how many are open
(not final), which final statuses they ended in, whether one reached the SMSC. Its status is
read off the tally in O(1) and equals :func:`~mesiji.domain.statuses.derive_message_status`
of the parts (a property test folds random events through the table to check it). When a part
moves, :func:`settle` says what the message's change means: a history event and a callback
when its status changed, and ``finalize`` when its last open part ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from mesiji.domain.statuses import FINAL_ORDER, MessageStatus, PartStatus, is_final

__all__ = [
    "NO_RECEIPT",
    "REUSED_ID",
    "TABLE",
    "Effect",
    "Event",
    "MessageEffect",
    "MessageState",
    "Settled",
    "Step",
    "message_error_code",
    "receipt_event",
    "settle",
    "states_for",
    "step",
    "submit_event",
]

#: The error code of a part given up because its receipt did not come in time.
NO_RECEIPT = "NO_RECEIPT"
#: The error code of a part whose SMSC message id the SMSC gave to a newer part.
REUSED_ID = "MESSAGE_ID_REUSED"


class Event(StrEnum):
    """What can happen to a part."""

    CLAIMED = "claimed"
    RELEASED = "released"
    SUBMIT_OK = "submit_ok"
    SUBMIT_OK_WITHOUT_ID = "submit_ok_without_id"
    SUBMIT_TEMPORARY_ERROR = "submit_temporary_error"
    SUBMIT_REJECTED = "submit_rejected"
    SUBMIT_PERMANENT_ERROR = "submit_permanent_error"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    RECEIPT_DELIVERED = "receipt_delivered"
    RECEIPT_UNDELIVERED = "receipt_undelivered"
    RECEIPT_EXPIRED = "receipt_expired"
    RECEIPT_REJECTED = "receipt_rejected"
    RECEIPT_INTERMEDIATE = "receipt_intermediate"
    RECEIPT_WAIT_OVER = "receipt_wait_over"
    ID_REUSED = "id_reused_by_newer_part"
    EXPIRED_IN_QUEUE = "expired_in_queue"
    CANCELLED = "cancelled"


class Effect(StrEnum):
    """What a store does besides writing the part's new state."""

    #: The part ended (its message has one open part fewer).
    FINAL = "final"
    #: Give the part's credits back: the SMSC never took it.
    REFUND = "refund"
    TAKE_LEASE = "take_lease"
    RELEASE_LEASE = "release_lease"
    #: The part's ``submitted_at`` becomes now.
    STAMP_SUBMITTED = "stamp_submitted"
    #: The part's ``done_at`` becomes now.
    STAMP_DONE = "stamp_done"
    #: The part's ``done_at`` is cleared (back in the queue, or waiting for its receipt).
    CLEAR_DONE = "clear_done"
    #: The part keeps the SMSC's message id the event carries.
    KEEP_SMSC_ID = "keep_smsc_id"
    #: The part's SMSC id is cleared: receipts for it go to a newer part.
    FORGET_SMSC_ID = "forget_smsc_id"
    #: The part's error code becomes the event's (or the row's own code).
    KEEP_ERROR = "keep_error"
    CLEAR_ERROR = "clear_error"


@dataclass(frozen=True, slots=True)
class Step:
    """One row's answer: the part's new state, what to do, and the error code it fixes."""

    status: PartStatus
    effects: frozenset[Effect]
    #: An error code the row itself sets (NO_RECEIPT, REUSED_ID), else None.
    error_code: str | None = None

    def __contains__(self, effect: object) -> bool:
        return effect in self.effects


_P = PartStatus
_E = Event
_F = Effect


def _row(status: PartStatus, *effects: Effect, error_code: str | None = None) -> Step:
    return Step(status, frozenset(effects), error_code)


_ENDED = (_F.FINAL, _F.REFUND, _F.RELEASE_LEASE, _F.STAMP_DONE, _F.KEEP_ERROR)
_RECEIPTS: Mapping[Event, PartStatus] = MappingProxyType(
    {
        _E.RECEIPT_DELIVERED: _P.DELIVERED,
        _E.RECEIPT_UNDELIVERED: _P.UNDELIVERED,
        _E.RECEIPT_EXPIRED: _P.EXPIRED,
        _E.RECEIPT_REJECTED: _P.REJECTED,
    }
)


def _receipt(status: PartStatus, *extra: Effect) -> Step:
    error = _F.CLEAR_ERROR if status is _P.DELIVERED else _F.KEEP_ERROR
    return _row(status, *extra, _F.STAMP_DONE, error)


#: The whole life cycle of a part. Absent pairs are no transition.
TABLE: Mapping[tuple[PartStatus, Event], Step] = MappingProxyType(
    {
        (_P.QUEUED, _E.CLAIMED): _row(_P.SUBMITTING, _F.TAKE_LEASE),
        (_P.QUEUED, _E.EXPIRED_IN_QUEUE): _row(_P.EXPIRED, _F.FINAL, _F.REFUND, _F.STAMP_DONE),
        (_P.QUEUED, _E.CANCELLED): _row(
            _P.CANCELLED, _F.FINAL, _F.REFUND, _F.STAMP_DONE, _F.RELEASE_LEASE
        ),
        (_P.QUEUED, _E.ATTEMPTS_EXHAUSTED): _row(_P.FAILED, *_ENDED),
        (_P.SUBMITTING, _E.CLAIMED): _row(_P.SUBMITTING, _F.TAKE_LEASE),
        (_P.SUBMITTING, _E.RELEASED): _row(_P.QUEUED, _F.RELEASE_LEASE),
        (_P.SUBMITTING, _E.SUBMIT_OK): _row(
            _P.IN_TRANSIT, _F.RELEASE_LEASE, _F.STAMP_SUBMITTED, _F.CLEAR_DONE, _F.KEEP_SMSC_ID
        ),
        (_P.SUBMITTING, _E.SUBMIT_OK_WITHOUT_ID): _row(
            _P.UNKNOWN, _F.FINAL, _F.RELEASE_LEASE, _F.STAMP_SUBMITTED, _F.STAMP_DONE, _F.KEEP_ERROR
        ),
        (_P.SUBMITTING, _E.SUBMIT_TEMPORARY_ERROR): _row(
            _P.QUEUED, _F.RELEASE_LEASE, _F.CLEAR_DONE, _F.KEEP_ERROR
        ),
        (_P.SUBMITTING, _E.SUBMIT_REJECTED): _row(_P.REJECTED, *_ENDED),
        (_P.SUBMITTING, _E.SUBMIT_PERMANENT_ERROR): _row(_P.FAILED, *_ENDED),
        (_P.SUBMITTING, _E.ATTEMPTS_EXHAUSTED): _row(_P.FAILED, *_ENDED),
        (_P.SUBMITTING, _E.EXPIRED_IN_QUEUE): _row(
            _P.EXPIRED, _F.FINAL, _F.REFUND, _F.RELEASE_LEASE, _F.STAMP_DONE
        ),
        **{
            (_P.IN_TRANSIT, event): _receipt(status, _F.FINAL)
            for event, status in _RECEIPTS.items()
        },
        (_P.IN_TRANSIT, _E.RECEIPT_WAIT_OVER): _row(
            _P.UNKNOWN, _F.FINAL, _F.STAMP_DONE, _F.KEEP_ERROR, error_code=NO_RECEIPT
        ),
        (_P.IN_TRANSIT, _E.ID_REUSED): _row(
            _P.UNKNOWN,
            _F.FINAL,
            _F.STAMP_DONE,
            _F.FORGET_SMSC_ID,
            _F.KEEP_ERROR,
            error_code=REUSED_ID,
        ),
        # The two corrections: a DELIVERED receipt wins over an expiry, and any receipt over
        # the guess that is ``unknown`` (see mesiji.domain.statuses).
        (_P.EXPIRED, _E.RECEIPT_DELIVERED): _receipt(_P.DELIVERED),
        **{(_P.UNKNOWN, event): _receipt(status) for event, status in _RECEIPTS.items()},
    }
)


def step(state: PartStatus, event: Event) -> Step | None:
    """What ``event`` does to a part in ``state``; None when it does nothing."""
    return TABLE.get((state, event))


def states_for(event: Event) -> frozenset[PartStatus]:
    """The part states ``event`` moves: the guard of a store's bulk update."""
    return frozenset(state for state, e in TABLE if e is event)


def receipt_event(status: PartStatus | None) -> Event:
    """The event of a receipt saying ``status`` (None: an intermediate receipt)."""
    if status is None:
        return _E.RECEIPT_INTERMEDIATE
    for event, final in _RECEIPTS.items():
        if final is status:
            return event
    raise ValueError(f"not a receipt status: {status}")


def submit_event(smsc_message_id: str | None, status: PartStatus | None) -> Event:
    """The event of a submit result (see :class:`mesiji.storage.message_ports.SubmitResult`);
    ValueError for a result that is none."""
    if smsc_message_id is not None:
        if status is not None:
            raise ValueError("an SMSC message id with a status")
        return _E.SUBMIT_OK
    events = {
        _P.QUEUED: _E.SUBMIT_TEMPORARY_ERROR,
        _P.REJECTED: _E.SUBMIT_REJECTED,
        _P.FAILED: _E.SUBMIT_PERMANENT_ERROR,
        _P.UNKNOWN: _E.SUBMIT_OK_WITHOUT_ID,
    }
    if status not in events:
        raise ValueError(f"not a submit outcome: {status}")
    return events[status]


# -- messages ----------------------------------------------------------------------------------

_SEEN_BY_SMSC = frozenset(
    {_P.IN_TRANSIT, _P.DELIVERED, _P.UNDELIVERED, _P.EXPIRED, _P.REJECTED, _P.UNKNOWN}
)
_INDEX = {status: i for i, status in enumerate(PartStatus)}


@dataclass(frozen=True, slots=True)
class MessageState:
    """A message as the tally of its parts' states: how many parts are in each."""

    counts: tuple[int, ...] = (0,) * len(PartStatus)

    @classmethod
    def of(cls, parts: Iterable[PartStatus]) -> MessageState:
        counts = [0] * len(PartStatus)
        for status in parts:
            counts[_INDEX[status]] += 1
        return cls(tuple(counts))

    def moved(self, before: PartStatus, after: PartStatus) -> MessageState:
        """The tally once one part moved from ``before`` to ``after``."""
        counts = list(self.counts)
        counts[_INDEX[before]] -= 1
        counts[_INDEX[after]] += 1
        return MessageState(tuple(counts))

    def count(self, status: PartStatus) -> int:
        return self.counts[_INDEX[status]]

    @property
    def open_parts(self) -> int:
        """Parts not final yet."""
        return sum(n for s, n in zip(PartStatus, self.counts, strict=True) if not is_final(s))

    @property
    def worst(self) -> PartStatus | None:
        """The worst final status of its parts so far (:data:`FINAL_ORDER`)."""
        return next((s for s in FINAL_ORDER if self.count(s)), None)

    def status(self, *, scheduled: bool = False) -> MessageStatus:
        """The message's status; ``scheduled`` when its send time is still ahead."""
        if not any(self.counts):
            return MessageStatus.ACCEPTED
        worst = self.worst
        if self.open_parts == 0 and worst is not None:
            return MessageStatus(worst.value)
        if any(self.count(s) for s in _SEEN_BY_SMSC):
            return MessageStatus.IN_TRANSIT
        return MessageStatus.SCHEDULED if scheduled else MessageStatus.QUEUED


class MessageEffect(StrEnum):
    """What a store does when a message's status changed."""

    #: Store the new status with a history event (status, reason, time).
    RECORD = "record"
    #: Queue the status callback (when the message or its account has a URL).
    QUEUE_CALLBACK = "queue_callback"
    #: The message's last open part ended: it is final.
    FINALIZE = "finalize"


@dataclass(frozen=True, slots=True)
class Settled:
    status: MessageStatus
    effects: frozenset[MessageEffect]


_CHANGED = frozenset({MessageEffect.RECORD, MessageEffect.QUEUE_CALLBACK})
_FINAL_MESSAGES = frozenset(MessageStatus(s.value) for s in FINAL_ORDER)


def settle(before: MessageStatus, state: MessageState, *, scheduled: bool = False) -> Settled:
    """The message's new status after its parts moved, and what follows from the change."""
    status = state.status(scheduled=scheduled)
    if status is before:
        return Settled(status, frozenset())
    if status in _FINAL_MESSAGES and before not in _FINAL_MESSAGES:
        return Settled(status, _CHANGED | {MessageEffect.FINALIZE})
    return Settled(status, _CHANGED)


def message_error_code(
    status: MessageStatus, parts: Sequence[tuple[PartStatus, str | None]]
) -> str | None:
    """The error code a message shows: that of its first part (in ``parts``' order) in the
    final status it ended with; None while it is open or once delivered."""
    if status is MessageStatus.DELIVERED or not all(is_final(s) for s, _ in parts):
        return None
    return next((code for s, code in parts if s.value == status.value and code), None)
