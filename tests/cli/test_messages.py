"""``mesiji messages show | list``: a message looked up by id, and an account's messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mesiji.storage.message_ports import NotificationAttempt
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.sql import SqlStore
from tests.cli.conftest import Mesiji, refused
from tests.storage.message_fixtures import LEASE, accept_one, in_transit

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _shop_with_messages(mesiji: Mesiji) -> tuple[int, int]:
    """Account 1 with three messages; the ids of a two-part one in transit with a failed
    callback attempt, and of one to another number with a reference."""
    mesiji("account", "create", "--name", "Shop", "--credits", "100")

    async def setup(store: SqlStore) -> tuple[int, int]:
        messages = SqlMessageStore(store.engine)
        busy, _ = await in_transit(messages, 1, T0, ["AB01", "AB02"], callback_url="https://c/1")
        [note] = await messages.claim_notifications(10, "w", T0, T0 + LEASE)
        await messages.record_notification_attempts(
            [NotificationAttempt(note.id, False, 503, "busy", T0 + timedelta(minutes=1))], T0
        )
        later = T0 + timedelta(hours=1)
        other = await accept_one(
            messages, 1, later, destination="995599000002", reference="order-7", body="ok\x1b[2J"
        )
        await accept_one(messages, 1, later + timedelta(hours=1), destination="995599000003")
        return busy, other

    return mesiji.using_store(setup)


def test_show_prints_parts_events_and_callbacks(mesiji_db: Mesiji) -> None:
    busy, _ = _shop_with_messages(mesiji_db)
    ran = mesiji_db("messages", "show", str(busy))
    assert ran.status == 0, ran
    lines = ran.out.splitlines()
    assert lines[0] == f"message {busy}"
    assert "  status       in_transit" in lines
    assert "  to           995599000000 (operator unknown)" in lines
    assert "  segments     2 (2 credits)" in lines
    parts = lines[lines.index("parts:") + 1 : lines.index("events:")]
    assert [p.split()[:5] for p in parts] == [
        ["1/2", "in_transit", "smsc", "id", "AB01"],
        ["2/2", "in_transit", "smsc", "id", "AB02"],
    ]
    events = lines[lines.index("events:") + 1 : lines.index("callbacks:")]
    assert [e.split()[-1] for e in events] == ["queued", "in_transit"]
    assert lines[lines.index("callbacks:") + 1 :] == [
        "  pending  attempts 1  tells in_transit  https://c/1  HTTP 503  busy"
    ]
    # The same message found only through its own account.
    assert mesiji_db("messages", "show", str(busy), "--account", "1").out == ran.out


def test_show_as_json(mesiji_db: Mesiji) -> None:
    busy, other = _shop_with_messages(mesiji_db)
    shown = json.loads(mesiji_db("messages", "show", str(busy), "--json").out)
    assert (shown["id"], shown["account_id"], shown["status"]) == (busy, 1, "in_transit")
    assert [(p["seqnum"], p["smsc_message_id"]) for p in shown["parts"]] == [
        (1, "AB01"),
        (2, "AB02"),
    ]
    assert [e["status"] for e in shown["events"]] == ["queued", "in_transit"]
    assert shown["callbacks"] == [
        {
            "attempts": 1,
            "status": "pending",
            "last_status_code": 503,
            "last_error": "busy",
            "message_status": "in_transit",
            "url": "https://c/1",
        }
    ]
    assert shown["created_at"] == T0.isoformat()
    # JSON carries the text as it is; the table shows control characters escaped.
    assert json.loads(mesiji_db("messages", "show", str(other), "--json").out)["text"] == (
        "ok\x1b[2J"
    )
    assert "  text         ok\\x1b[2J" in mesiji_db("messages", "show", str(other)).out


def test_list_filters_like_the_api(mesiji_db: Mesiji) -> None:
    busy, other = _shop_with_messages(mesiji_db)

    def ids(*filters: str) -> list[int]:
        ran = mesiji_db("messages", "list", "--account", "1", "--json", *filters)
        assert ran.status == 0, ran
        return [m["id"] for m in json.loads(ran.out)["messages"]]

    newest = busy + 2
    assert ids() == [newest, other, busy]
    assert ids("--to", "+995 599 00 00 02") == [other]  # normalised as a send's number is
    assert ids("--to", "599000002") == [other]
    assert ids("--reference", "order-7") == [other]
    assert ids("--status", "in_transit") == [busy]
    assert ids("--since", "2026-12-05T11:00Z") == [newest, other]
    assert ids("--until", "2026-12-05T15:00+04:00") == [busy]  # 11:00 UTC, exclusive
    assert ids("--limit", "2") == [newest, other]
    page = json.loads(mesiji_db("messages", "list", "--account", "1", "--json", "--limit", "2").out)
    assert page["more"] is True


def test_list_as_a_table(mesiji_db: Mesiji) -> None:
    _, other = _shop_with_messages(mesiji_db)
    ran = mesiji_db("messages", "list", "--account", "1", "--limit", "2")
    lines = ran.out.splitlines()
    assert lines[0].split() == [
        "id",
        "created",
        "status",
        "from",
        "to",
        "parts",
        "reference",
        "text",
    ]
    assert lines[2].split()[:7] == [
        str(other), "2026-12-05", "11:00:00+00:00", "queued", "Mesiji", "995599000002", "1",
    ]  # fmt: skip
    assert lines[2].endswith("order-7    ok\\x1b[2J")
    assert lines[-1] == "(more than 2: raise --limit or narrow the filters)"
    assert mesiji_db("messages", "list", "--account", "1", "--status", "failed").out == (
        "no messages\n"
    )


def test_lookups_that_find_nothing_say_so(mesiji_db: Mesiji) -> None:
    busy, _ = _shop_with_messages(mesiji_db)
    mesiji_db("account", "create", "--name", "Other")
    refused(mesiji_db("messages", "show", "999"), "no message 999")
    refused(mesiji_db("messages", "show", str(busy), "--account", "2"), "no message")
    refused(mesiji_db("messages", "list", "--account", "42"), "no account 42")
    refused(mesiji_db("messages", "list", "--account", "1", "--to", "abc"), "--to: ")
    refused(mesiji_db("messages", "list", "--account", "1", "--to", "+44 7911 123456"), "--to: ")
    refused(
        mesiji_db(
            "messages", "list", "--account", "1", "--since", "2026-12-06", "--until", "2026-12-05"
        ),
        "--since must be before --until",
    )
    refused(
        mesiji_db("messages", "list", "--account", "1", "--reference", "a\x00"),
        "contains the character",
    )
