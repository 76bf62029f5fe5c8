"""What an operator's tools read about a message beyond the API's view: owner and parts.

The API shows a client its own messages (:meth:`MessageStore.get_message` takes the account);
an administrator looking a message up by id alone needs its account first, and wants to see
how each part fared at the SMSC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mesiji.domain.statuses import PartStatus
from mesiji.storage import transactions
from mesiji.storage.schema import messages, parts

__all__ = ["PartView", "SqlMessageAdmin"]


@dataclass(frozen=True, slots=True)
class PartView:
    """One part (segment) of a message as the SMSC saw it."""

    seqnum: int
    total: int
    status: PartStatus
    channel: str | None
    #: The SMSC's message_id from submit_sm_resp; None until submitted.
    smsc_message_id: str | None
    attempts: int
    submitted_at: datetime | None
    done_at: datetime | None
    error_code: str | None


class SqlMessageAdmin:
    """Administrative reads of messages on an :class:`AsyncEngine` (the caller's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def owner(self, message_id: int) -> int | None:
        """The id of the account the message belongs to; None when there is no such message."""
        query = select(messages.c.account_id).where(messages.c.id == message_id)
        async with transactions.reading(self._engine) as conn:
            owner = (await conn.execute(query)).scalar_one_or_none()
        return None if owner is None else int(owner)

    async def parts(self, message_id: int) -> list[PartView]:
        """The message's parts in order; empty for an unknown message."""
        query = select(parts).where(parts.c.message_id == message_id).order_by(parts.c.seqnum)
        async with transactions.reading(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [
            PartView(
                seqnum=row.seqnum,
                total=row.total,
                status=PartStatus(row.status),
                channel=row.channel,
                smsc_message_id=row.smsc_message_id,
                attempts=row.attempts,
                submitted_at=row.submitted_at,
                done_at=row.done_at,
                error_code=row.error_code,
            )
            for row in rows
        ]
