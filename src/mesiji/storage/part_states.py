"""A part as a transaction changes it, and :func:`advance`: the table's effects applied to it.

Shared by every store (SQL and in memory): the one place where a life-cycle effect
(:class:`mesiji.domain.lifecycle.Effect`) becomes a change of a part's fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mesiji.domain.lifecycle import Effect, Event, Step, step
from mesiji.domain.statuses import PartStatus

__all__ = ["PartState", "advance", "part_credits"]


@dataclass(slots=True)
class PartState:
    """A part as a transaction is changing it; :func:`write_parts` stores it."""

    id: int
    message_id: int
    account_id: int
    channel: str | None
    seqnum: int
    total: int
    #: The credits of the whole message, shared out over its parts by :func:`part_credits`.
    message_credits: int
    status: PartStatus
    smsc_message_id: str | None = None
    submitted_at: datetime | None = None
    done_at: datetime | None = None
    error_code: str | None = None
    #: Whether the table said to give this part's credits back (:func:`refund`).
    refunded: bool = False

    @property
    def credits(self) -> int:
        """What this part cost."""
        return part_credits(self.message_credits, self.total, self.seqnum)


def part_credits(credits: int, total: int, seqnum: int) -> int:
    """The share of a message's ``credits`` paid for part ``seqnum`` of ``total``.

    The shares add up to exactly ``credits``; the first parts carry the remainder.
    """
    share, remainder = divmod(credits, total)
    return share + (1 if seqnum <= remainder else 0)


def advance(
    state: PartState,
    event: Event,
    now: datetime,
    *,
    error_code: str | None = None,
    smsc_message_id: str | None = None,
) -> Step | None:
    """Apply what the life-cycle table says ``event`` does to the part, in place.

    None (and no change) when the table has no row: a repeated or late event. The event's
    ``error_code`` and ``smsc_message_id`` are kept only where the row says so.
    """
    row = step(state.status, event)
    if row is None:
        return None
    state.status = row.status
    effects = row.effects
    if Effect.STAMP_SUBMITTED in effects:
        state.submitted_at = now
    if Effect.STAMP_DONE in effects:
        state.done_at = now
    if Effect.CLEAR_DONE in effects:
        state.done_at = None
    if Effect.KEEP_SMSC_ID in effects:
        state.smsc_message_id = smsc_message_id
    if Effect.FORGET_SMSC_ID in effects:
        state.smsc_message_id = None
    if Effect.KEEP_ERROR in effects:
        state.error_code = row.error_code or error_code
    if Effect.CLEAR_ERROR in effects:
        state.error_code = None
    if Effect.REFUND in effects:
        state.refunded = True
    return row
