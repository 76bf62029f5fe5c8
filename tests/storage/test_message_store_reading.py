"""Reading messages back, counters, and the callback outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import timedelta

import pytest

from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.storage import NotFound, SqlStore
from mesiji.storage.message_ports import AcceptBatch, MessageQuery, SubmitResult
from mesiji.storage.messages_sql import MAX_PAGE, SqlMessageStore
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database
from tests.storage.message_fixtures import (
    CHANNEL,
    accept_one,
    funded_account,
    message,
    sent,
)

LEASE = timedelta(seconds=30)


async def _all_pages(
    message_store: SqlMessageStore, account: int, query: MessageQuery
) -> list[list[int]]:
    pages: list[list[int]] = []
    while True:
        page, cursor = await message_store.list_messages(account, query)
        pages.append([m.id for m in page])
        if cursor is None:
            return pages
        query = replace(query, cursor=cursor)


async def test_pages_cover_every_message_once_newest_first(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    start = clock.now()
    ids: list[int] = []
    # Requests of several messages share their creation time: the id breaks the ties.
    for minute in range(6):
        batch = AcceptBatch(
            account, [message(destination=f"99559900{minute}{i}") for i in range(4)]
        )
        ids += (await message_store.accept(batch, start + timedelta(minutes=minute))).message_ids
    pages = await _all_pages(message_store, account, MessageQuery(limit=5))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 4]
    assert [i for page in pages for i in page] == sorted(ids, reverse=True)
    # Messages accepted between two pages come neither twice nor in the middle.
    page, cursor = await message_store.list_messages(account, MessageQuery(limit=10))
    await accept_one(message_store, account, start + timedelta(hours=1))
    rest, _ = await message_store.list_messages(account, MessageQuery(limit=100, cursor=cursor))
    assert [m.id for m in page + rest] == sorted(ids, reverse=True)


async def test_listing_filters(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    other = await funded_account(store)
    start = clock.now()
    a = await accept_one(
        message_store, account, start, reference="march", destination="995599111111"
    )
    b = await accept_one(message_store, account, start + timedelta(minutes=1), reference="march")
    c = await accept_one(message_store, account, start + timedelta(minutes=2), reference="april")
    await accept_one(message_store, other, start, reference="march")
    claimed = await message_store.claim_parts(CHANNEL, 10, "gw", start, start + LEASE)
    failed = next(p for p in claimed if p.message_id == b)
    await message_store.record_submissions(
        [SubmitResult(failed.part_id, status=PartStatus.FAILED)], start
    )

    async def ids(query: MessageQuery) -> list[int]:
        page, _ = await message_store.list_messages(account, query)
        return [m.id for m in page]

    assert await ids(MessageQuery()) == [c, b, a]
    assert await ids(MessageQuery(reference="march")) == [b, a]
    assert await ids(MessageQuery(destination="995599111111")) == [a]
    assert await ids(MessageQuery(status=MessageStatus.FAILED)) == [b]
    assert await ids(MessageQuery(since=start + timedelta(minutes=1))) == [c, b]
    assert await ids(MessageQuery(until=start + timedelta(minutes=1))) == [a]
    pages = await _all_pages(message_store, account, MessageQuery(reference="march", limit=1))
    assert pages == [[b], [a]]
    page, _ = await message_store.list_messages(account, MessageQuery())
    assert page[0].events == ()


async def test_a_page_holds_at_most_a_thousand(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 2000)
    batch = AcceptBatch(account, [message(destination=f"995599{i:06d}") for i in range(1001)])
    await message_store.accept(batch, clock.now())
    page, cursor = await message_store.list_messages(account, MessageQuery(limit=5000))
    assert (len(page), MAX_PAGE) == (1000, 1000)
    assert cursor is not None
    rest, end = await message_store.list_messages(account, MessageQuery(cursor=cursor, limit=0))
    assert (len(rest), end) == (1, None)


@pytest.mark.parametrize(
    "cursor",
    ["", "not base64!", base64.urlsafe_b64encode(b"yesterday|1").decode(), "MjAyNi0wMS0wMQ"],
)
async def test_a_foreign_cursor_is_refused(message_store: SqlMessageStore, cursor: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        await message_store.list_messages(1, MessageQuery(cursor=cursor))


async def test_a_message_is_only_shown_to_its_account(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    other = await funded_account(store)
    message_id = await accept_one(message_store, account, clock.now())
    assert await message_store.get_message(other, message_id) is None
    assert await message_store.get_message(account, message_id + 1000) is None
    assert await message_store.list_messages(other, MessageQuery()) == ([], None)


async def test_counters(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    await accept_one(message_store, account, now, segments=3, callback_url="https://c")
    await accept_one(message_store, account, now, channel="silknet")
    await accept_one(message_store, account, now, channel="silknet")
    [first, *_] = await message_store.claim_parts(CHANNEL, 1, "gw", now, now + LEASE)
    await message_store.record_submissions([sent(first, "1")], now)
    counters = await message_store.counters()
    assert counters == {
        "parts.queued": 4,
        "parts.submitting": 0,
        "parts.in_transit": 1,
        "parts.delivered": 0,
        "parts.undelivered": 0,
        "parts.expired": 0,
        "parts.rejected": 0,
        "parts.failed": 0,
        f"queued.{CHANNEL}": 2,
        "queued.silknet": 2,
        "notifications.pending": 1,
        "messages.accepted": 3,
    }


async def test_callbacks_are_leased_retried_and_finished(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, callback_url="https://c/1")
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    await message_store.record_submissions([sent(part, "1")], now)

    [note] = await message_store.claim_notifications(10, "w-1", now, now + LEASE)
    assert (note.message_id, note.account_id, note.url, note.attempts) == (
        message_id,
        account,
        "https://c/1",
        0,
    )
    assert '"status":"in_transit"' in note.payload
    # Leased: nobody else gets it before the lease runs out.
    assert await message_store.claim_notifications(10, "w-2", now, now + LEASE) == []
    [taken_over] = await message_store.claim_notifications(10, "w-2", now + LEASE, now + 2 * LEASE)
    assert taken_over.id == note.id

    retry_at = now + timedelta(minutes=1)
    await message_store.record_notification_attempt(
        note.id, delivered=False, status_code=503, error="busy", next_attempt_at=retry_at, now=now
    )
    assert (
        await message_store.claim_notifications(10, "w", retry_at - timedelta(seconds=1), retry_at)
        == []
    )
    [again] = await message_store.claim_notifications(10, "w", retry_at, retry_at + LEASE)
    assert again.attempts == 1
    await message_store.record_notification_attempt(
        note.id, delivered=True, status_code=200, error=None, next_attempt_at=None, now=retry_at
    )
    far = now + timedelta(days=1)
    assert await message_store.claim_notifications(10, "w", far, far + LEASE) == []
    # A late report from a worker whose lease ran out changes nothing.
    await message_store.record_notification_attempt(
        note.id, delivered=False, status_code=None, error="timeout", next_attempt_at=far, now=far
    )
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert view.callbacks == ((2, "delivered", 200, None),)
    assert (await message_store.counters())["notifications.pending"] == 0


async def test_a_callback_can_be_given_up(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id = await accept_one(message_store, account, now, callback_url="https://c/1")
    [part] = await message_store.claim_parts(CHANNEL, 10, "gw", now, now + LEASE)
    await message_store.record_submissions([sent(part, "1")], now)
    [note] = await message_store.claim_notifications(10, "w", now, now + LEASE)
    await message_store.record_notification_attempt(
        note.id, delivered=False, status_code=None, error="refused", next_attempt_at=None, now=now
    )
    far = now + timedelta(days=1)
    assert await message_store.claim_notifications(10, "w", far, far + LEASE) == []
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert view.callbacks == ((1, "failed", None, "refused"),)
    with pytest.raises(NotFound):
        await message_store.record_notification_attempt(
            note.id + 1, delivered=True, status_code=200, error=None, next_attempt_at=None, now=now
        )


async def test_concurrent_workers_never_share_a_callback(
    database: Database, store: SqlStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, 1000, callback_url="https://account/cb")
    now = clock.now()
    setup = SqlMessageStore(store.engine)
    await setup.accept(
        AcceptBatch(account, [message(destination=f"995599{i:06d}") for i in range(200)]), now
    )
    claimed = await setup.claim_parts(CHANNEL, 500, "gw", now, now + LEASE)
    await setup.record_submissions([sent(p, str(p.part_id)) for p in claimed], now)

    engine = database.engine(busy_timeout=60)
    try:
        worker = SqlMessageStore(engine)

        async def drain() -> list[int]:
            taken: list[int] = []
            while batch := await worker.claim_notifications(9, "w", now, now + LEASE):
                taken += [n.id for n in batch]
            return taken

        results = await asyncio.gather(*(drain() for _ in range(4)))
    finally:
        await engine.dispose()
    every = [i for taken in results for i in taken]
    assert len(every) == len(set(every)) == 200
