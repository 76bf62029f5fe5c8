"""Reading messages back and the callback outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from mesiji.domain.statuses import MessageStatus, PartStatus
from mesiji.storage import SqlStore
from mesiji.storage.memory import MemoryMessageStore
from mesiji.storage.message_ports import (
    AcceptBatch,
    CallbackView,
    CursorError,
    MessageQuery,
    NotificationAttempt,
    SubmitResult,
)
from mesiji.storage.messages_sql import MAX_PAGE, SqlMessageStore
from mesiji.storage.schema import notifications
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database, recorded_statements
from tests.storage.message_fixtures import (
    CHANNEL,
    LEASE,
    accept_one,
    funded_account,
    in_transit,
    message,
    sent,
)


async def _pending_callbacks(store: SqlStore) -> int:
    if isinstance(store, MemoryMessageStore):
        return sum(n.status == "pending" for n in store.notifications.values())
    query = select(func.count()).where(notifications.c.status == "pending")
    async with store.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


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
    # A listing shows each message as get_message does: with its events and callbacks.
    page, _ = await message_store.list_messages(account, MessageQuery())
    assert page == [await message_store.get_message(account, m) for m in (c, b, a)]
    assert [e[0] for e in page[1].events][-1] == MessageStatus.FAILED.value


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


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "é",
        "\ud800",
        "\x00",
        _cursor("yesterday|1"),
        "MjAyNi0wMS0wMQ",
        _cursor("2026-01-01T00:00:00|1"),  # no offset
        _cursor("2026-01-01T00:00:00+00:00|"),
        _cursor("2026-01-01T00:00:00+00:00|-1"),
        _cursor("2026-01-01T00:00:00+00:00|1_000"),
        _cursor("2026-01-01T00:00:00+00:00|١٢"),  # Arabic-Indic digits
        _cursor("2026-01-01T00:00:00+00:00|" + "9" * 19),  # over a BIGINT
        _cursor("2026-01-01T00:00:00+00:00|" + "9" * 5000),
        _cursor("9999-12-31T23:59:59-05:00|1"),  # past the calendar in UTC
        _cursor("0001-01-01T00:00:00+05:00|1"),
        _cursor("2026-01-01T00:00:00+00:00|\ud800"),
    ],
)
async def test_a_foreign_cursor_is_refused(message_store: SqlMessageStore, cursor: str) -> None:
    with pytest.raises(CursorError, match="cursor"):
        await message_store.list_messages(1, MessageQuery(cursor=cursor))


async def test_cursors_at_the_edges_of_the_calendar_and_ids_are_read(
    message_store: SqlMessageStore,
) -> None:
    for text in ("0001-01-01T00:00:00+00:00|1", "9999-12-31T23:59:59+00:00|" + str(2**63 - 1)):
        page, _ = await message_store.list_messages(1, MessageQuery(cursor=_cursor(text)))
        assert page == []


async def test_a_message_is_only_shown_to_its_account(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    other = await funded_account(store)
    message_id = await accept_one(message_store, account, clock.now())
    assert await message_store.get_message(other, message_id) is None
    assert await message_store.get_message(account, message_id + 1000) is None
    assert await message_store.list_messages(other, MessageQuery()) == ([], None)


async def test_callbacks_are_leased_retried_and_finished(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["1"], callback_url="https://c/1")

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
    await message_store.record_notification_attempts(
        [NotificationAttempt(note.id, False, 503, "busy", retry_at)], now
    )
    assert (
        await message_store.claim_notifications(10, "w", retry_at - timedelta(seconds=1), retry_at)
        == []
    )
    [again] = await message_store.claim_notifications(10, "w", retry_at, retry_at + LEASE)
    assert again.attempts == 1
    await message_store.record_notification_attempts(
        [NotificationAttempt(note.id, True, 200, None, None)], retry_at
    )
    far = now + timedelta(days=1)
    assert await message_store.claim_notifications(10, "w", far, far + LEASE) == []
    # A late report from a worker whose lease ran out changes nothing.
    await message_store.record_notification_attempts(
        [NotificationAttempt(note.id, False, None, "timeout", far)], far
    )
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert view.callbacks == (CallbackView(2, "delivered", 200, None, "in_transit", "https://c/1"),)
    assert await _pending_callbacks(store) == 0


async def test_a_callback_can_be_given_up(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["1"], callback_url="https://c/1")
    [note] = await message_store.claim_notifications(10, "w", now, now + LEASE)
    await message_store.record_notification_attempts(
        [NotificationAttempt(note.id, False, None, "refused", None)], now
    )
    far = now + timedelta(days=1)
    assert await message_store.claim_notifications(10, "w", far, far + LEASE) == []
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert view.callbacks == (
        CallbackView(1, "failed", None, "refused", "in_transit", "https://c/1"),
    )


@pytest.mark.sql_only
async def test_a_batch_of_attempts_is_one_statement_in_one_transaction(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store, callback_url="https://account/cb")
    now = clock.now()
    await message_store.accept(
        AcceptBatch(account, [message(destination=f"995599{i:06d}") for i in range(40)]), now
    )
    claimed = await message_store.claim_parts(CHANNEL, 100, "gw", now, now + LEASE)
    await message_store.record_submissions([sent(p, str(p.part_id)) for p in claimed], now)
    notes = await message_store.claim_notifications(100, "w", now, now + LEASE)
    assert len(notes) == 40
    ids = [n.id for n in notes]
    # One was finished by another worker whose report came first.
    await message_store.record_notification_attempts(
        [NotificationAttempt(ids[0], True, 200, None, None)], now
    )
    retry_at = now + timedelta(minutes=5)
    later = now + timedelta(seconds=3)
    outcomes = {
        **{i: NotificationAttempt(i, True, 200 + n % 5, None, None) for n, i in enumerate(ids)},
        **{i: NotificationAttempt(i, False, 503, "HTTP 503: busy", retry_at) for i in ids[10:20]},
        **{i: NotificationAttempt(i, False, None, "TimeoutError", None) for i in ids[20:25]},
    }
    outcomes[ids[0]] = NotificationAttempt(ids[0], False, 500, "late", retry_at)
    unknown = NotificationAttempt(max(ids) + 1000, True, 200, None, None)
    batch = [*reversed(outcomes.values()), unknown]

    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    event.listen(store.engine.sync_engine, "commit", committed)
    try:
        with recorded_statements(store.engine) as statements:
            await message_store.record_notification_attempts(batch, later)
    finally:
        event.remove(store.engine.sync_engine, "commit", committed)
    # 41 attempts: one UPDATE sent once (an executemany), one transaction.
    assert len([s for s in statements if "notifications" in s]) == 1
    assert len(commits) == 1

    query = select(notifications).where(notifications.c.account_id == account)
    async with store.engine.connect() as conn:
        rows = {row.id: row for row in await conn.execute(query)}
    assert set(rows) == set(ids)  # the unknown id created nothing

    def state(i: int) -> tuple[object, ...]:
        row = rows[i]
        return (
            row.status,
            row.attempts,
            row.last_status_code,
            row.last_error,
            row.next_attempt_at,
            row.updated_at,
        )

    # Not pending any more: the late report changed nothing.
    assert state(ids[0]) == ("delivered", 1, 200, None, now + LEASE, now)
    for i in ids[1:10] + ids[25:]:
        # Delivered keeps its last next_attempt_at (the lease), as a finished row needs none.
        assert state(i) == ("delivered", 1, outcomes[i].status_code, None, now + LEASE, later)
    for i in ids[10:20]:
        assert state(i) == ("pending", 1, 503, "HTTP 503: busy", retry_at, later)
    for i in ids[20:25]:
        assert state(i) == ("failed", 1, None, "TimeoutError", now + LEASE, later)
    # The retried ones come due again at their time, and only they.
    assert await message_store.claim_notifications(100, "w", retry_at - LEASE, retry_at) == []
    again = await message_store.claim_notifications(100, "w", retry_at, retry_at + LEASE)
    assert sorted(n.id for n in again) == ids[10:20]
    assert [n.attempts for n in again] == [1] * 10
    assert await _pending_callbacks(store) == 10
    await message_store.record_notification_attempts([], later)  # nothing to do


async def test_two_attempts_at_one_callback_in_one_batch_both_count(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    message_id, _ = await in_transit(message_store, account, now, ["1"], callback_url="https://c/1")
    [note] = await message_store.claim_notifications(10, "w", now, now + LEASE)
    # A worker whose records failed for a whole lease may report an attempt late, in the same
    # batch as the next one: they apply in order, and the delivered one ends the row.
    retry_at = now + timedelta(minutes=1)
    await message_store.record_notification_attempts(
        [
            NotificationAttempt(note.id, False, 502, "bad gateway", retry_at),
            NotificationAttempt(note.id, True, 200, None, None),
        ],
        now,
    )
    view = await message_store.get_message(account, message_id)
    assert view is not None
    assert view.callbacks == (CallbackView(2, "delivered", 200, None, "in_transit", "https://c/1"),)


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


@pytest.mark.sql_only
async def test_a_listing_reads_histories_in_three_statements_whatever_the_page(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    now = clock.now()
    for destination in ("1", "2", "3"):
        await in_transit(message_store, account, now, [destination], callback_url="https://c/1")
    for limit in (1, 3):
        with recorded_statements(message_store.engine) as statements:
            page, _ = await message_store.list_messages(account, MessageQuery(limit=limit))
        assert len(page) == limit
        assert all(m.events and m.callbacks for m in page)
        assert [s.split()[0] for s in statements if not s.startswith(("BEGIN", "COMMIT"))] == [
            "SELECT"
        ] * 3


@pytest.mark.parametrize("message_id", [0, -1, 2**63, 10**30])
async def test_an_impossible_id_is_no_message(
    store: SqlStore, message_store: SqlMessageStore, message_id: int
) -> None:
    account = await funded_account(store)
    assert await message_store.get_message(account, message_id) is None


@pytest.mark.sql_only
async def test_a_listing_without_history_is_one_statement(
    store: SqlStore, message_store: SqlMessageStore, clock: VirtualClock
) -> None:
    account = await funded_account(store)
    await in_transit(message_store, account, clock.now(), ["1"], callback_url="https://c/1")
    with recorded_statements(message_store.engine) as statements:
        page, _ = await message_store.list_messages(account, MessageQuery(with_history=False))
    assert [(m.events, m.callbacks) for m in page] == [((), ())]
    assert [s.split()[0] for s in statements if not s.startswith(("BEGIN", "COMMIT"))] == ["SELECT"]
