"""The callback outbox on SQL: what a status callback says, queueing it, and delivering it.

A notification row is written in the transaction that changes the message's status (see
:mod:`mesiji.storage.part_outcomes_sql`), so a status is never stored without its callback.
Workers claim due rows with a lease and record each attempt. Functions here run inside a
transaction the caller opened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from mesiji.domain.statuses import MessageStatus
from mesiji.storage.errors import NotFound
from mesiji.storage.id_lists import ids_in
from mesiji.storage.message_ports import Notification
from mesiji.storage.schema import notifications

__all__ = [
    "DELIVERED",
    "FAILED",
    "PENDING",
    "StatusCallback",
    "claim_notifications",
    "enqueue_status_callbacks",
    "record_notification_attempt",
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
        .where(ids_in(conn, notifications.c.id, [row.id for row in rows]))
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


async def record_notification_attempt(
    conn: AsyncConnection,
    notification_id: int,
    *,
    delivered: bool,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
    now: datetime,
) -> None:
    """Count one attempt; the row ends delivered, given up (failed), or due again later.

    Only a pending row changes: a late report from a worker whose lease ran out must not turn
    a callback another worker delivered back into a pending one.
    """
    values: dict[str, object] = {
        "attempts": notifications.c.attempts + 1,
        "last_status_code": status_code,
        "last_error": error,
        "updated_at": now,
    }
    if delivered:
        values["status"] = DELIVERED
    elif next_attempt_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = next_attempt_at
    statement = (
        update(notifications)
        .where(notifications.c.id == notification_id, notifications.c.status == PENDING)
        .values(values)
        .returning(notifications.c.id)
    )
    if (await conn.execute(statement)).first() is not None:
        return
    exists = notifications.select().where(notifications.c.id == notification_id)
    if (await conn.execute(exists)).first() is None:
        raise NotFound(f"no notification {notification_id}")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
