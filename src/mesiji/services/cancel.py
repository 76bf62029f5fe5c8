"""Cancelling messages before they are sent: one by id, or every message of a reference.

A message can be cancelled while it is scheduled or queued and no dispatcher has claimed a
part of it (the domain decides: :func:`mesiji.domain.statuses.cancellable`); its credits come
back, it ends ``cancelled``, and its history and callback say so. After that it is on its way
and goes on: SMPP's cancel_sm is not used, because SMSCs commonly refuse it for a message
already forwarded, and a client could not tell a cancelled message from a delivered one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mesiji.clock import Clock
from mesiji.domain.statuses import MessageStatus, PartStatus, is_final
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage.message_ports import (
    CancellingStore,
    MessageQuery,
    MessageView,
    StatusChange,
)
from mesiji.storage.records import Account

__all__ = ["CancelService", "ReferenceCancellation"]

#: Message statuses worth a cancellation attempt; the store has the last word.
_PENDING = frozenset({MessageStatus.SCHEDULED, MessageStatus.QUEUED})
#: Message statuses that are final: a message takes the status of its parts once all ended.
_ENDED = frozenset(MessageStatus(s.value) for s in PartStatus if is_final(s))


@dataclass(slots=True)
class ReferenceCancellation:
    """What cancelling every message of a reference did."""

    #: Ids of the messages cancelled now, with the credits given back in all.
    cancelled: list[int] = field(default_factory=list)
    refunded: int = 0
    #: (id, status) of the messages that could not be cancelled.
    not_cancellable: list[tuple[int, MessageStatus]] = field(default_factory=list)


class CancelService:
    """Cancels an account's messages; ``on_changes`` hears each status change it makes (the
    notifier, so the callback leaves at once)."""

    def __init__(
        self,
        messages: CancellingStore,
        clock: Clock,
        *,
        on_changes: Callable[[Sequence[StatusChange]], None] | None = None,
    ) -> None:
        self._messages = messages
        self._clock = clock
        self._on_changes = on_changes

    async def cancel(self, account: Account, message_id: int) -> MessageView:
        """Cancel the account's message and return it as it is now.

        :class:`RequestError` ``not_found`` when the account has no such message,
        ``not_cancellable`` when a part of it was claimed or it has ended.
        """
        outcome = await self._messages.cancel_message(account.id, message_id, self._clock.now())
        if outcome is None:
            raise RequestError(ErrorCode.not_found, f"no message {message_id}")
        if not outcome.cancelled:
            raise RequestError(ErrorCode.not_cancellable, _why_not(message_id, outcome.status))
        self._announce(outcome.changes)
        view = await self._messages.get_message(account.id, message_id)
        if view is None:  # purged in between
            raise RequestError(ErrorCode.not_found, f"no message {message_id}")
        return view

    async def cancel_reference(self, account: Account, reference: str) -> ReferenceCancellation:
        """Cancel every message of the account with ``reference`` that can still be cancelled.

        Each message is cancelled in a transaction of its own, so some may be claimed by a
        dispatcher while this runs: those are listed as not cancellable. ``not_found`` when
        no message has this reference.
        """
        result = ReferenceCancellation()
        found = False
        cursor: str | None = None
        while True:
            views, cursor = await self._messages.list_messages(
                account.id, MessageQuery(reference=reference, cursor=cursor, limit=1000)
            )
            found = found or bool(views)
            for view in views:
                await self._cancel_one(account, view, result)
            if cursor is None:
                break
        if not found:
            raise RequestError(ErrorCode.not_found, f"no message with reference {reference!r}")
        return result

    async def _cancel_one(
        self, account: Account, view: MessageView, result: ReferenceCancellation
    ) -> None:
        if view.status not in _PENDING:
            result.not_cancellable.append((view.id, view.status))
            return
        outcome = await self._messages.cancel_message(account.id, view.id, self._clock.now())
        if outcome is None:  # purged in between
            return
        if not outcome.cancelled:
            result.not_cancellable.append((view.id, outcome.status))
            return
        result.cancelled.append(view.id)
        result.refunded += outcome.refunded
        self._announce(outcome.changes)

    def _announce(self, changes: Sequence[StatusChange]) -> None:
        if changes and self._on_changes is not None:
            self._on_changes(changes)


def _why_not(message_id: int, status: MessageStatus) -> str:
    if status in _ENDED:
        return f"message {message_id} has already ended ({status.value}); it cannot be cancelled"
    return (
        f"message {message_id} is {status.value}: a part of it was handed to the SMSC, or is "
        "being, so it can no longer be cancelled"
    )
