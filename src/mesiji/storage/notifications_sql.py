"""The callback outbox on SQL: what a status callback says, queueing it, and delivering it.

A notification row is written in the transaction that changes the message's status (see
:mod:`mesiji.storage.outcomes_sql`), so a status is never stored without its callback.
Workers claim due rows with a lease and record their attempts in batches. Functions here run
inside a transaction the caller opened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mesiji.domain.statuses import MessageStatus
from mesiji.storage import dialects
from mesiji.storage.message_ports import Notification, NotificationAttempt
from mesiji.storage.schema import notifications
from mesiji.storage.types import UtcDateTime

__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "StatusCallback",
    "claim_notifications",
    "enqueue_status_callbacks",
    "payload_status",
    "record_notification_attempts",
    "status_payload",
]

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StatusCallback:
    """A message's new status, to be told to ``url``."""

    url: str
    message_id: int
    account_id: int
    reference: str | None
    destination: str
    status: MessageStatus
    error_code: str | None
    segments: int
    created_at: datetime
    updated_at: datetime
    operator: str | None = None
    #: Send smsoffice.ge's GET callback (an account-level callback URL) instead of JSON.
    smsoffice_form: bool = False


def status_payload(callback: StatusCallback) -> str:
    """The stored body of a status callback: Mesiji's JSON, or the smsoffice.ge GET form.

    The GET form is stored as ``{"method": "GET", "query": {...}}``; the notifier sends it as
    query parameters (reference, status, reason, destination, timestamp, operator).
    """
    if callback.smsoffice_form:
        return json.dumps(
            {
                "method": "GET",
                "query": {
                    "reference": callback.reference or str(callback.message_id),
                    "status": callback.status.value,
                    "reason": callback.error_code or "",
                    "destination": callback.destination,
                    "timestamp": _iso(callback.updated_at),
                    "operator": callback.operator or "",
                },
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
    return json.dumps(
        {
            "event": "status",
            "id": callback.message_id,
            "reference": callback.reference,
            "to": callback.destination,
            "status": callback.status.value,
            "error_code": callback.error_code,
            "segments": callback.segments,
            "created_at": _iso(callback.created_at),
            "updated_at": _iso(callback.updated_at),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def payload_status(payload: str) -> str | None:
    """The message status a body made by :func:`status_payload` tells, or None."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    query = data.get("query")
    status = query.get("status") if isinstance(query, dict) else data.get("status")
    return status if isinstance(status, str) else None


async def enqueue_status_callbacks(
    conn: AsyncConnection, callbacks: Sequence[StatusCallback], now: datetime
) -> None:
    """Queue the callbacks, due at once."""
    if not callbacks:
        return
    await conn.execute(
        notifications.insert(),
        [
            {
                "message_id": c.message_id,
                "account_id": c.account_id,
                "url": c.url,
                "payload": status_payload(c),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for c in callbacks
        ],
    )


async def claim_notifications(
    conn: AsyncConnection, limit: int, now: datetime, lease_until: datetime
) -> list[Notification]:
    """Take up to ``limit`` due callbacks, oldest due first, until ``lease_until``.

    The lease is the next attempt time itself: moving it to ``lease_until`` hides the row from
    other workers until then, and if this worker dies the row comes due again by itself.
    """
    query = (
        notifications.select()
        .where(notifications.c.status == PENDING, notifications.c.next_attempt_at <= now)
        .order_by(notifications.c.next_attempt_at, notifications.c.id)
        .limit(limit)
        # Several workers may poll at once; each takes rows the others have not locked.
        .with_for_update(skip_locked=True, key_share=True)
    )
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    await conn.execute(
        update(notifications)
        .where(dialects.one_of(conn.dialect.name, notifications.c.id, [row.id for row in rows]))
        .values(next_attempt_at=lease_until, updated_at=now)
    )
    return [
        Notification(
            id=row.id,
            message_id=row.message_id,
            account_id=row.account_id,
            url=row.url,
            payload=row.payload,
            attempts=row.attempts,
        )
        for row in rows
    ]


async def record_notification_attempts(
    conn: AsyncConnection, attempts: Sequence[NotificationAttempt], now: datetime
) -> None:
    """Count each attempt; its row ends delivered, given up (failed), or due again later.

    One UPDATE executed for every attempt (an executemany: one prepared statement pipelined on
    asyncpg, one call on SQLite), whatever the batch holds. Only a pending row changes: a late
    report from a worker whose lease ran out must not turn a callback another worker delivered
    back into a pending one. An id that matches no row changes nothing.
    """
    if not attempts:
        return
    statement = (
        update(notifications)
        .where(notifications.c.id == bindparam("n_id"), notifications.c.status == PENDING)
        .values(
            attempts=notifications.c.attempts + 1,
            status=bindparam("n_status"),
            last_status_code=bindparam("n_code"),
            last_error=bindparam("n_error"),
            # A finished row keeps its last next_attempt_at; a retried one takes the new time.
            next_attempt_at=func.coalesce(
                bindparam("n_next", type_=UtcDateTime()), notifications.c.next_attempt_at
            ),
            updated_at=bindparam("n_now", type_=UtcDateTime()),
        )
    )
    # In id order (stable, so two attempts at one row apply as they came): concurrent gateways
    # then lock shared rows in the same order and cannot deadlock on PostgreSQL.
    rows = [
        {
            "n_id": a.notification_id,
            "n_status": _outcome(a),
            "n_code": a.status_code,
            "n_error": a.error,
            "n_next": None if a.delivered else a.next_attempt_at,
            "n_now": now,
        }
        for a in sorted(attempts, key=lambda a: a.notification_id)
    ]
    await conn.execute(statement, rows)


def _outcome(attempt: NotificationAttempt) -> str:
    if attempt.delivered:
        return DELIVERED
    return FAILED if attempt.next_attempt_at is None else PENDING


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
