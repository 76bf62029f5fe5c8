"""``mesiji messages show | list``: look messages up, as an administrator, from the shell.

``show`` finds a message by id whatever its account, with its parts, history and callbacks;
``list`` pages through one account's messages newest first, filtered as the ``/v1`` API
filters them. Both print a readable table, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from mesiji.cli.inputs import CommandError, plain_text, record_id, timestamp
from mesiji.cli.stores import add_config_argument, existing_account, run_command, settings_from
from mesiji.domain.numbers import NumberError, parse_destination
from mesiji.domain.statuses import MessageStatus
from mesiji.storage.message_admin import PartView, SqlMessageAdmin
from mesiji.storage.message_ports import MessageQuery, MessageView
from mesiji.storage.messages_sql import MAX_PAGE, SqlMessageStore
from mesiji.storage.sql import SqlStore

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["add_parser"]

#: The most messages one ``list`` prints.
MAX_LIST = 100_000
#: Characters of the text shown in a listing.
_TEXT_WIDTH = 40


def add_parser(subparsers: Subparsers) -> None:
    """Register ``messages show`` and ``messages list``."""
    group = subparsers.add_parser("messages", help="look messages up")
    commands = group.add_subparsers(dest="messages_command", required=True)
    show = commands.add_parser("show", help="one message with its parts, events and callbacks")
    show.add_argument("message_id", type=record_id)
    show.add_argument("--account", type=record_id, help="only if it is this account's")
    listing = commands.add_parser("list", help="an account's messages, newest first")
    listing.add_argument("--account", type=record_id, required=True)
    listing.add_argument("--status", choices=[s.value for s in MessageStatus])
    listing.add_argument("--to", help="destination, written any way a send accepts")
    listing.add_argument("--reference", help="the client's reference")
    listing.add_argument("--since", type=timestamp, help="created at or after (ISO 8601, UTC)")
    listing.add_argument("--until", type=timestamp, help="created before (ISO 8601, UTC)")
    listing.add_argument("--limit", type=_limit, default=50, help="at most this many (50)")
    for parser, handler in ((show, _show), (listing, _list)):
        parser.add_argument("--json", action="store_true", help="print JSON")
        add_config_argument(parser)
        parser.set_defaults(func=lambda args, handler=handler: run_command(handler, args))


def _limit(text: str) -> int:
    value = record_id(text)
    if value > MAX_LIST:
        raise argparse.ArgumentTypeError(f"at most {MAX_LIST}")
    return value


async def _show(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    admin = SqlMessageAdmin(store.engine)
    owner = await admin.owner(args.message_id)
    if owner is None or (args.account is not None and owner != args.account):
        where = "" if args.account is None else f" for account {args.account}"
        raise CommandError(f"no message {args.message_id}{where}")
    view = await SqlMessageStore(store.engine).get_message(owner, args.message_id)
    if view is None:  # purged between the two reads
        raise CommandError(f"no message {args.message_id}")
    parts = await admin.parts(args.message_id)
    if args.json:
        print(json.dumps(_message_json(view, parts), ensure_ascii=False, indent=2), file=out)
    else:
        _print_message(view, parts, out)
    return 0


async def _list(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    account = await existing_account(store, args.account)
    destination = None
    if args.to is not None:
        try:
            destination = parse_destination(
                args.to,
                allowed_regions=frozenset(account.allowed_regions),
                default_region=settings_from(args).default_region,
            ).e164
        except NumberError as exc:
            raise CommandError(f"--to: {exc}") from exc
    if args.since and args.until and args.since >= args.until:
        raise CommandError("--since must be before --until")
    query = MessageQuery(
        status=None if args.status is None else MessageStatus(args.status),
        reference=None if args.reference is None else plain_text(args.reference, "--reference"),
        destination=destination,
        since=args.since,
        until=args.until,
        limit=min(args.limit, MAX_PAGE),
    )
    found, more = await _collect(SqlMessageStore(store.engine), account.id, query, args.limit)
    if args.json:
        page = {"messages": [_message_json(v) for v in found], "more": more}
        print(json.dumps(page, ensure_ascii=False, indent=2), file=out)
        return 0
    _print_table(found, out)
    if more:
        print(f"(more than {len(found)}: raise --limit or narrow the filters)", file=out)
    return 0


async def _collect(
    store: SqlMessageStore, account_id: int, query: MessageQuery, limit: int
) -> tuple[list[MessageView], bool]:
    """Up to ``limit`` messages, following the pages; and whether there were more."""
    found: list[MessageView] = []
    cursor: str | None = None
    while True:
        page, cursor = await store.list_messages(
            account_id, replace(query, cursor=cursor, limit=min(MAX_PAGE, limit - len(found)))
        )
        found += page
        if cursor is None or len(found) >= limit:
            return found, cursor is not None


def _stamp(at: datetime | None) -> str:
    return "" if at is None else at.isoformat(sep=" ", timespec="seconds")


def _shown(text: str | None) -> str:
    """``text`` safe for a terminal: control characters (escape sequences too) made visible."""
    if text is None:
        return ""
    return "".join(ascii(c)[1:-1] if unicodedata.category(c) in {"Cc", "Cs"} else c for c in text)


def _print_message(view: MessageView, parts: list[PartView], out: TextIO) -> None:
    rows = [
        ("status", view.status.value),
        ("account", str(view.account_id)),
        ("from", view.sender),
        ("to", f"{view.destination} ({view.operator or 'operator unknown'})"),
        ("reference", view.reference),
        ("text", view.body),
        ("segments", f"{view.segments} ({view.credits} credits)"),
        ("channel", view.channel),
        ("urgent", "yes" if view.urgent else None),
        ("error", view.error_code),
        ("callback url", view.callback_url),
        ("send at", _stamp(view.send_at)),
        ("valid until", _stamp(view.valid_until)),
        ("created", _stamp(view.created_at)),
        ("updated", _stamp(view.updated_at)),
    ]
    print(f"message {view.id}", file=out)
    for label, value in rows:
        if value:
            print(f"  {label:<13}{_shown(value)}", file=out)
    print("parts:", file=out)
    for part in parts:
        smsc = f"smsc id {part.smsc_message_id}" if part.smsc_message_id else "not submitted"
        error = f"  error {part.error_code}" if part.error_code else ""
        print(
            f"  {part.seqnum}/{part.total}  {part.status.value:<12}{_shown(smsc)}"
            f"  attempts {part.attempts}  submitted {_stamp(part.submitted_at) or '-'}"
            f"  done {_stamp(part.done_at) or '-'}{_shown(error)}",
            file=out,
        )
    print("events:", file=out)
    for status, reason, at in view.events:
        print(f"  {_stamp(at)}  {status}{_shown(f'  ({reason})' if reason else '')}", file=out)
    print("callbacks:" if view.callbacks else "callbacks: none", file=out)
    for callback in view.callbacks:
        code, last_error = callback.last_status_code, callback.last_error
        answer = f"  HTTP {code}" if code is not None else ""
        why = _shown(f"  {last_error}" if last_error else "")
        told = callback.message_status or "-"
        print(
            f"  {callback.status}  attempts {callback.attempts}  tells {told}  "
            f"{_shown(callback.url)}{answer}{why}",
            file=out,
        )


def _print_table(found: list[MessageView], out: TextIO) -> None:
    if not found:
        print("no messages", file=out)
        return
    header = ("id", "created", "status", "from", "to", "parts", "reference", "text")
    rows = [
        (
            str(v.id),
            _stamp(v.created_at),
            v.status.value,
            _shown(v.sender),
            v.destination,
            str(v.segments),
            _shown(v.reference),
            _shown(_clip(v.body)),
        )
        for v in found
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]), file=out)


def _clip(text: str) -> str:
    return text if len(text) <= _TEXT_WIDTH else text[: _TEXT_WIDTH - 1] + "…"


def _message_json(view: MessageView, parts: list[PartView] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": view.id,
        "account_id": view.account_id,
        "reference": view.reference,
        "sender": view.sender,
        "to": view.destination,
        "operator": view.operator,
        "channel": view.channel,
        "text": view.body,
        "segments": view.segments,
        "credits": view.credits,
        "status": view.status.value,
        "error_code": view.error_code,
        "urgent": view.urgent,
        "callback_url": view.callback_url,
        "send_at": _iso(view.send_at),
        "valid_until": _iso(view.valid_until),
        "created_at": _iso(view.created_at),
        "updated_at": _iso(view.updated_at),
    }
    if parts is None:
        return data
    data["parts"] = [
        {
            "seqnum": p.seqnum,
            "total": p.total,
            "status": p.status.value,
            "channel": p.channel,
            "smsc_message_id": p.smsc_message_id,
            "attempts": p.attempts,
            "submitted_at": _iso(p.submitted_at),
            "done_at": _iso(p.done_at),
            "error_code": p.error_code,
        }
        for p in parts
    ]
    data["events"] = [
        {"status": status, "reason": reason, "at": _iso(at)} for status, reason, at in view.events
    ]
    data["callbacks"] = [
        {
            "attempts": c.attempts,
            "status": c.status,
            "last_status_code": c.last_status_code,
            "last_error": c.last_error,
            "message_status": c.message_status,
            "url": c.url,
        }
        for c in view.callbacks
    ]
    return data


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
