"""The callback outbox of :class:`~mesiji.storage.memory.MemoryMessageStore`.

Notifications are queued by status changes (or :meth:`MemoryOutbox.add_notification`),
claimed with a lease that is their next attempt time, and finish delivered or given up, as
on SQL (:mod:`mesiji.storage.notifications_sql`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mesiji.storage.message_ports import Notification, NotificationAttempt

__all__ = ["MemoryNotification", "MemoryOutbox"]


@dataclass(slots=True)
class MemoryNotification:
    id: int
    message_id: int | None
    account_id: int
    url: str
    payload: str
    next_attempt_at: datetime
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    last_status_code: int | None = None
    #: (now, delivered, status_code, error, next_attempt_at) of every recorded attempt.
    history: list[tuple[datetime, bool, int | None, str | None, datetime | None]] = field(
        default_factory=list
    )


class MemoryOutbox:
    """The notifications of a store in memory."""

    def __init__(self) -> None:
        self.notifications: dict[int, MemoryNotification] = {}
        self._notification_ids = itertools.count(1)

    def add_notification(
        self,
        account_id: int,
        url: str,
        payload: str,
        now: datetime,
        message_id: int | None = None,
    ) -> MemoryNotification:
        """Queue a callback, due at once, as a status change does."""
        notification = MemoryNotification(
            next(self._notification_ids), message_id, account_id, url, payload, now
        )
        self.notifications[notification.id] = notification
        return notification

    async def claim_notifications(
        self, limit: int, owner: str, now: datetime, lease_until: datetime
    ) -> list[Notification]:
        """Take up to ``limit`` due callbacks, oldest due first, until ``lease_until``."""
        if limit <= 0:
            return []
        due = sorted(
            (n for n in self.notifications.values() if _due(n, now)),
            key=lambda n: (n.next_attempt_at, n.id),
        )[:limit]
        for n in due:
            n.next_attempt_at = lease_until
        return [
            Notification(n.id, n.message_id, n.account_id, n.url, n.payload, n.attempts)
            for n in due
        ]

    async def record_notification_attempts(
        self, attempts: Sequence[NotificationAttempt], now: datetime
    ) -> None:
        """Count each attempt; only a pending notification changes, unknown ids are ignored."""
        for attempt in sorted(attempts, key=lambda a: a.notification_id):
            n = self.notifications.get(attempt.notification_id)
            if n is None or n.status != "pending":
                continue
            n.attempts += 1
            n.last_status_code = attempt.status_code
            n.last_error = attempt.error
            n.history.append(
                (
                    now,
                    attempt.delivered,
                    attempt.status_code,
                    attempt.error,
                    attempt.next_attempt_at,
                )
            )
            if attempt.delivered:
                n.status = "delivered"
            elif attempt.next_attempt_at is None:
                n.status = "failed"
            else:
                n.next_attempt_at = attempt.next_attempt_at


def _due(notification: MemoryNotification, now: datetime) -> bool:
    return notification.status == "pending" and notification.next_attempt_at <= now
