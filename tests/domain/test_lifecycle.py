"""The life-cycle table, row by row, and its message tally against derive_message_status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.domain.lifecycle import (
    NO_RECEIPT,
    REUSED_ID,
    TABLE,
    Effect,
    Event,
    MessageEffect,
    MessageState,
    message_error_code,
    receipt_event,
    settle,
    step,
    submit_event,
)
from mesiji.domain.statuses import (
    MessageStatus,
    PartStatus,
    can_transition,
    derive_message_status,
    is_final,
)

P = PartStatus
E = Event
F = Effect
M = MessageStatus

ENDED = {F.FINAL, F.REFUND, F.RELEASE_LEASE, F.STAMP_DONE, F.KEEP_ERROR}
RECEIPTS = {
    E.RECEIPT_DELIVERED: P.DELIVERED,
    E.RECEIPT_UNDELIVERED: P.UNDELIVERED,
    E.RECEIPT_EXPIRED: P.EXPIRED,
    E.RECEIPT_REJECTED: P.REJECTED,
}


def _receipt(status: PartStatus, *extra: Effect) -> set[Effect]:
    return {F.STAMP_DONE, F.CLEAR_ERROR if status is P.DELIVERED else F.KEEP_ERROR, *extra}


# The table as the issue states it, spelled out again: (state, event) -> (state, effects, code).
EXPECTED: dict[tuple[PartStatus, Event], tuple[PartStatus, set[Effect], str | None]] = {
    (P.QUEUED, E.CLAIMED): (P.SUBMITTING, {F.TAKE_LEASE}, None),
    (P.QUEUED, E.EXPIRED_IN_QUEUE): (P.EXPIRED, {F.FINAL, F.REFUND, F.STAMP_DONE}, None),
    (P.QUEUED, E.CANCELLED): (
        P.CANCELLED,
        {F.FINAL, F.REFUND, F.STAMP_DONE, F.RELEASE_LEASE},
        None,
    ),
    (P.QUEUED, E.ATTEMPTS_EXHAUSTED): (P.FAILED, ENDED, None),
    (P.SUBMITTING, E.CLAIMED): (P.SUBMITTING, {F.TAKE_LEASE}, None),
    (P.SUBMITTING, E.RELEASED): (P.QUEUED, {F.RELEASE_LEASE}, None),
    (P.SUBMITTING, E.SUBMIT_OK): (
        P.IN_TRANSIT,
        {F.RELEASE_LEASE, F.STAMP_SUBMITTED, F.CLEAR_DONE, F.KEEP_SMSC_ID},
        None,
    ),
    (P.SUBMITTING, E.SUBMIT_OK_WITHOUT_ID): (
        P.UNKNOWN,
        {F.FINAL, F.RELEASE_LEASE, F.STAMP_SUBMITTED, F.STAMP_DONE, F.KEEP_ERROR},
        None,
    ),
    (P.SUBMITTING, E.SUBMIT_TEMPORARY_ERROR): (
        P.QUEUED,
        {F.RELEASE_LEASE, F.CLEAR_DONE, F.KEEP_ERROR},
        None,
    ),
    (P.SUBMITTING, E.SUBMIT_REJECTED): (P.REJECTED, ENDED, None),
    (P.SUBMITTING, E.SUBMIT_PERMANENT_ERROR): (P.FAILED, ENDED, None),
    (P.SUBMITTING, E.ATTEMPTS_EXHAUSTED): (P.FAILED, ENDED, None),
    (P.SUBMITTING, E.EXPIRED_IN_QUEUE): (
        P.EXPIRED,
        {F.FINAL, F.REFUND, F.RELEASE_LEASE, F.STAMP_DONE},
        None,
    ),
    **{(P.IN_TRANSIT, e): (s, _receipt(s, F.FINAL), None) for e, s in RECEIPTS.items()},
    (P.IN_TRANSIT, E.RECEIPT_WAIT_OVER): (
        P.UNKNOWN,
        {F.FINAL, F.STAMP_DONE, F.KEEP_ERROR},
        NO_RECEIPT,
    ),
    (P.IN_TRANSIT, E.ID_REUSED): (
        P.UNKNOWN,
        {F.FINAL, F.STAMP_DONE, F.FORGET_SMSC_ID, F.KEEP_ERROR},
        REUSED_ID,
    ),
    (P.EXPIRED, E.RECEIPT_DELIVERED): (P.DELIVERED, _receipt(P.DELIVERED), None),
    **{(P.UNKNOWN, e): (s, _receipt(s), None) for e, s in RECEIPTS.items()},
}

ALL_PAIRS = [(state, event) for state in PartStatus for event in Event]


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=[f"{s}-{e}" for s, e in ALL_PAIRS])
def test_each_row(state: PartStatus, event: Event) -> None:
    got = step(state, event)
    expected = EXPECTED.get((state, event))
    if expected is None:
        assert got is None  # a repeated or late event is a no-op
        return
    assert got is not None
    assert (got.status, set(got.effects), got.error_code) == expected


def test_rows_follow_the_domain_transitions() -> None:
    """Every move of the table is one statuses.py allows, bar the lease take-over and the
    expiry of a part whose dispatcher died past the validity."""
    extra = {(P.SUBMITTING, P.SUBMITTING), (P.SUBMITTING, P.EXPIRED)}
    moves = {(state, row.status) for (state, _), row in TABLE.items()}
    assert {m for m in moves if not can_transition(*m)} == extra
    # and every transition statuses.py allows has a row
    assert {(a, b) for a in P for b in P if can_transition(a, b)} <= moves


def test_final_parts_count_once() -> None:
    for (state, _), row in TABLE.items():
        assert (F.FINAL in row) is (is_final(row.status) and not is_final(state))
        if F.REFUND in row:  # only parts the SMSC never took are refunded
            assert state in (P.QUEUED, P.SUBMITTING)


def test_event_helpers() -> None:
    assert receipt_event(None) is E.RECEIPT_INTERMEDIATE
    assert receipt_event(P.EXPIRED) is E.RECEIPT_EXPIRED
    with pytest.raises(ValueError, match="receipt"):
        receipt_event(P.QUEUED)
    assert submit_event("4711", None) is E.SUBMIT_OK
    assert submit_event(None, P.QUEUED) is E.SUBMIT_TEMPORARY_ERROR
    assert submit_event(None, P.REJECTED) is E.SUBMIT_REJECTED
    assert submit_event(None, P.FAILED) is E.SUBMIT_PERMANENT_ERROR
    assert submit_event(None, P.UNKNOWN) is E.SUBMIT_OK_WITHOUT_ID
    with pytest.raises(ValueError, match="status"):
        submit_event("4711", P.FAILED)
    with pytest.raises(ValueError, match="submit outcome"):
        submit_event(None, P.DELIVERED)


def test_a_message_settles_once_final_and_again_when_corrected() -> None:
    state = MessageState.of([P.QUEUED, P.QUEUED])
    assert state.open_parts == 2
    assert state.worst is None
    assert settle(M.QUEUED, state).effects == frozenset()
    state = state.moved(P.QUEUED, P.SUBMITTING).moved(P.SUBMITTING, P.IN_TRANSIT)
    moved = settle(M.QUEUED, state)
    assert moved.status is M.IN_TRANSIT
    assert moved.effects == {MessageEffect.RECORD, MessageEffect.QUEUE_CALLBACK}
    state = state.moved(P.IN_TRANSIT, P.EXPIRED).moved(P.QUEUED, P.CANCELLED)
    assert (state.open_parts, state.worst) == (0, P.CANCELLED)
    done = settle(M.IN_TRANSIT, state)
    assert done.status is M.CANCELLED
    assert MessageEffect.FINALIZE in done.effects
    corrected = settle(M.CANCELLED, state.moved(P.EXPIRED, P.DELIVERED))
    assert corrected.status is M.CANCELLED
    assert corrected.effects == frozenset()
    assert MessageState().status() is M.ACCEPTED
    assert MessageState.of([P.QUEUED]).status(scheduled=True) is M.SCHEDULED


def test_message_error_code() -> None:
    parts = [(P.DELIVERED, None), (P.REJECTED, "0x45"), (P.REJECTED, "0x0b")]
    assert message_error_code(M.REJECTED, parts) == "0x45"
    assert message_error_code(M.DELIVERED, [(P.DELIVERED, "x")]) is None
    assert message_error_code(M.IN_TRANSIT, [(P.IN_TRANSIT, "x")]) is None


NOW = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    total=st.integers(1, 4),
    events=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(Event)), max_size=40),
    scheduled=st.booleans(),
)
def test_folding_events_gives_the_derived_message_status(
    total: int, events: list[tuple[int, Event]], scheduled: bool
) -> None:
    parts = [P.QUEUED] * total
    message = MessageState.of(parts)
    status = message.status(scheduled=scheduled)
    finalized = 0
    for index, event in events:
        i = index % total
        row = step(parts[i], event)
        if row is None:
            continue
        message = message.moved(parts[i], row.status)
        parts[i] = row.status
        settled = settle(status, message, scheduled=scheduled)
        status = settled.status
        finalized += MessageEffect.FINALIZE in settled.effects
        send_at = NOW + timedelta(hours=1) if scheduled else None
        assert status is derive_message_status(parts, send_at=send_at, now=NOW)
        assert message.open_parts == sum(not is_final(p) for p in parts)
        assert (MessageEffect.RECORD in settled.effects) is (settled.effects != frozenset())
    # A message becomes final once: corrections of final parts never finalize it again.
    assert finalized == (1 if all(is_final(p) for p in parts) else 0)
