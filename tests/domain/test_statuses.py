"""The life cycle: legal moves, final statuses, message status from parts, receipts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.domain.delivery import DeliveryState
from mesiji.domain.statuses import (
    FINAL_ORDER,
    MessageStatus,
    PartStatus,
    can_transition,
    cancellable,
    derive_message_status,
    is_final,
    part_status_from_receipt,
    statuses_before,
)

Q = PartStatus.QUEUED
S = PartStatus.SUBMITTING
T = PartStatus.IN_TRANSIT
D = PartStatus.DELIVERED
U = PartStatus.UNDELIVERED
E = PartStatus.EXPIRED
R = PartStatus.REJECTED
F = PartStatus.FAILED
C = PartStatus.CANCELLED
N = PartStatus.UNKNOWN

LEGAL = {
    (Q, S),  # a dispatcher claims it
    (Q, E),  # the validity period ran out in the queue
    (Q, F),  # a permanent error found before submitting
    (S, Q),  # transient error: throttled, link lost
    (S, T),  # submit_sm_resp OK
    (S, R),  # submit_sm_resp with a refusal
    (S, F),  # attempts exhausted, or a permanent local error
    (T, D),
    (T, U),
    (T, E),
    (T, R),
    (E, D),  # a late DELIVRD beats a timeout
    (Q, C),  # the client cancelled it before a dispatcher claimed it
    (S, N),  # submit_sm_resp OK without a message_id: no receipt can be matched
    (T, N),  # no receipt in time, or the SMSC gave the id to a newer part
    (N, D),  # a late receipt replaces the guess
    (N, U),
    (N, E),
    (N, R),
}
FINAL = {D, U, E, R, F, C, N}


@pytest.mark.parametrize("current", list(PartStatus))
@pytest.mark.parametrize("new", list(PartStatus))
def test_transition_table(current: PartStatus, new: PartStatus) -> None:
    assert can_transition(current, new) is ((current, new) in LEGAL)


@pytest.mark.parametrize("status", list(PartStatus))
def test_is_final(status: PartStatus) -> None:
    assert is_final(status) is (status in FINAL)


def test_final_statuses_never_move_except_guesses_to_a_receipt() -> None:
    guesses = {E: {D}, N: {D, U, E, R}}
    for current in FINAL:
        moves = {new for new in PartStatus if can_transition(current, new)}
        assert moves == guesses.get(current, set())


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((), MessageStatus.ACCEPTED),
        ((Q,), MessageStatus.QUEUED),
        ((Q, Q, Q), MessageStatus.QUEUED),
        ((S,), MessageStatus.QUEUED),  # submit_sm in flight: not at the SMSC yet
        ((Q, S), MessageStatus.QUEUED),
        ((F, Q), MessageStatus.QUEUED),  # a failed part never reached the SMSC
        ((T,), MessageStatus.IN_TRANSIT),
        ((T, Q), MessageStatus.IN_TRANSIT),
        ((D, Q), MessageStatus.IN_TRANSIT),
        ((D, S), MessageStatus.IN_TRANSIT),
        ((D, T, T), MessageStatus.IN_TRANSIT),
        ((R, T), MessageStatus.IN_TRANSIT),
        ((U, Q), MessageStatus.IN_TRANSIT),
        ((D,), MessageStatus.DELIVERED),
        ((D, D, D), MessageStatus.DELIVERED),
        ((U,), MessageStatus.UNDELIVERED),
        ((E,), MessageStatus.EXPIRED),
        ((R,), MessageStatus.REJECTED),
        ((F,), MessageStatus.FAILED),
        ((D, D, E), MessageStatus.EXPIRED),
        ((D, E, U), MessageStatus.UNDELIVERED),
        ((E, U, R), MessageStatus.REJECTED),
        ((D, U, R, F), MessageStatus.FAILED),
        ((F, D, D), MessageStatus.FAILED),
        ((R, D), MessageStatus.REJECTED),
        ((C, C), MessageStatus.CANCELLED),
        ((N,), MessageStatus.UNKNOWN),
        ((D, N), MessageStatus.UNKNOWN),
        ((N, E), MessageStatus.EXPIRED),  # known not delivered beats not known
        ((N, T), MessageStatus.IN_TRANSIT),
        ((N, Q), MessageStatus.IN_TRANSIT),
    ],
)
def test_derive_message_status(parts: tuple[PartStatus, ...], expected: MessageStatus) -> None:
    assert derive_message_status(parts) is expected


NOW = datetime(2020, 5, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("parts", "send_at", "expected"),
    [
        ((Q, Q), NOW + timedelta(hours=1), MessageStatus.SCHEDULED),
        ((Q, Q), NOW, MessageStatus.QUEUED),  # due now
        ((Q, Q), NOW - timedelta(seconds=1), MessageStatus.QUEUED),
        ((D, Q), NOW + timedelta(hours=1), MessageStatus.IN_TRANSIT),
        ((D, D), NOW + timedelta(hours=1), MessageStatus.DELIVERED),
        ((), NOW + timedelta(hours=1), MessageStatus.ACCEPTED),
    ],
)
def test_scheduled(
    parts: tuple[PartStatus, ...], send_at: datetime, expected: MessageStatus
) -> None:
    assert derive_message_status(parts, send_at=send_at, now=NOW) is expected


def test_send_at_without_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now"):
        derive_message_status([Q], send_at=NOW)


def test_final_order_covers_every_final_status_once() -> None:
    assert set(FINAL_ORDER) == FINAL
    assert len(FINAL_ORDER) == len(FINAL)
    assert FINAL_ORDER[-1] is D


parts_lists = st.lists(st.sampled_from(list(PartStatus)), min_size=1, max_size=12)


@given(parts=parts_lists, data=st.data())
def test_order_of_parts_does_not_matter(parts: list[PartStatus], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(parts))
    assert derive_message_status(shuffled) is derive_message_status(parts)


@given(parts=parts_lists)
def test_delivered_exactly_when_every_part_is(parts: list[PartStatus]) -> None:
    delivered = derive_message_status(parts) is MessageStatus.DELIVERED
    assert delivered is all(part is D for part in parts)


@given(parts=parts_lists)
def test_message_ends_exactly_when_every_part_has(parts: list[PartStatus]) -> None:
    status = derive_message_status(parts)
    assert (status.value in {s.value for s in FINAL}) is all(is_final(p) for p in parts)
    if status.value in {s.value for s in FINAL}:
        assert PartStatus(status.value) in parts


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (DeliveryState.DELIVERED, D),
        (DeliveryState.UNDELIVERED, U),
        (DeliveryState.EXPIRED, E),
        (DeliveryState.DELETED, U),
        (DeliveryState.REJECTED, R),
        (DeliveryState.ACCEPTED, None),
        (DeliveryState.UNKNOWN, None),
        (DeliveryState.ENROUTE, None),
    ],
)
def test_part_status_from_receipt(state: DeliveryState, expected: PartStatus | None) -> None:
    assert part_status_from_receipt(state) is expected
    assert (expected is None) is (not state.is_final)


def test_every_receipt_outcome_is_reachable_from_in_transit() -> None:
    for state in DeliveryState:
        status = part_status_from_receipt(state)
        assert status is None or can_transition(T, status)


@pytest.mark.parametrize(
    ("status", "english", "georgian"),
    [
        (MessageStatus.IN_TRANSIT, "in transit", "გზაშია"),
        (MessageStatus.DELIVERED, "delivered", "მიტანილია"),
        (MessageStatus.UNDELIVERED, "undelivered", "ვერ მიიტანა"),
        (PartStatus.IN_TRANSIT, "in transit", "გზაშია"),
        (MessageStatus.CANCELLED, "cancelled", "გაუქმებულია"),
    ],
)
def test_glossary_labels(status: MessageStatus | PartStatus, english: str, georgian: str) -> None:
    assert (status.label_en, status.label_ka) == (english, georgian)


@pytest.mark.parametrize("status", [*PartStatus, *MessageStatus])
def test_every_status_has_labels(status: MessageStatus | PartStatus) -> None:
    assert status.label_en
    assert all("\u10d0" <= char <= "\u10ff" or char == " " for char in status.label_ka)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((Q,), True),
        ((Q, Q, Q), True),
        ((), False),  # nothing to cancel
        ((S,), False),  # a dispatcher holds it
        ((Q, S), False),  # a part is on its way: the rest must follow
        ((T, Q), False),
        ((C,), False),  # already cancelled: final
        ((D,), False),
        ((F, Q), False),
    ],
)
def test_cancellable(parts: tuple[PartStatus, ...], expected: bool) -> None:
    assert cancellable(parts) is expected


def test_statuses_before() -> None:
    assert statuses_before(C) == {Q}
    assert statuses_before(D) == {T, E, N}
    assert statuses_before(Q) == {S}
