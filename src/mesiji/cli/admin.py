"""``mesiji account | key | sender | stoplist``: administration from the command line."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mesiji.bootstrap import database_url
from mesiji.domain.callback_urls import DestinationPolicy, check_callback_url
from mesiji.domain.keys import generate_api_key
from mesiji.domain.numbers import NumberError, parse_destination
from mesiji.errors import MesijiError
from mesiji.settings import Settings, load_settings
from mesiji.storage.records import Account, AccountStatus, NewAccount, SenderStatus
from mesiji.storage.sql import SqlStore, open_store

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
Command = Callable[[SqlStore, argparse.Namespace, TextIO], Awaitable[int]]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (docs/configuration.md)")


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings named by ``--config``, with the process environment's overrides."""
    return load_settings(args.config, os.environ)


def add_parsers(subparsers: Subparsers) -> None:
    """Register the administration commands."""
    account = _group(subparsers, "account", "client accounts and their balance")
    cmd = _command(account, "create", _account_create, "create an account")
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--website")
    cmd.add_argument("--email")
    cmd.add_argument("--phone")
    cmd.add_argument("--credits", type=int, default=0, help="opening balance in SMS credits")
    cmd.add_argument("--price-per-segment", type=int, default=1)
    cmd.add_argument("--callback-url", help="smsoffice.ge-style delivery callback")
    _command(account, "list", _account_list, "list accounts")
    cmd = _command(account, "credit", _account_credit, "add (or with a minus, take) credits")
    cmd.add_argument("account_id", type=int)
    cmd.add_argument("credits", type=int)
    cmd.add_argument("--reason", default="manual top-up")
    for name, status in (("suspend", AccountStatus.SUSPENDED), ("activate", AccountStatus.ACTIVE)):
        cmd = _command(account, name, _account_status, f"{name} an account")
        cmd.add_argument("account_id", type=int)
        cmd.set_defaults(status=status)
    cmd = _command(account, "rate", _account_rate, "set an account's send requests a second")
    cmd.add_argument("account_id", type=int)
    cmd.add_argument(
        "rate", type=_send_rate, help="requests a second; 0 for no limit; 'default' for [limits]"
    )

    key = _group(subparsers, "key", "API keys")
    cmd = _command(key, "create", _key_create, "create a key (shown once)")
    cmd.add_argument("account_id", type=int)
    cmd.add_argument("--label", default="")
    cmd = _command(key, "list", _key_list, "list an account's keys")
    cmd.add_argument("account_id", type=int)
    cmd = _command(key, "revoke", _key_revoke, "revoke a key")
    cmd.add_argument("account_id", type=int)
    cmd.add_argument("key_id", type=int)

    sender = _group(subparsers, "sender", "sender IDs (სათაური) and their status")
    cmd = _command(sender, "set", _sender_set, "register a sender or change its status")
    cmd.add_argument("account_id", type=int)
    cmd.add_argument("name")
    cmd.add_argument(
        "--status", choices=[s.value for s in SenderStatus], default=SenderStatus.PENDING.value
    )
    cmd = _command(sender, "list", _sender_list, "list an account's senders")
    cmd.add_argument("account_id", type=int)

    stop = _group(subparsers, "stoplist", "numbers that opted out")
    for name, handler in (("add", _stop_add), ("remove", _stop_remove)):
        cmd = _command(stop, name, handler, f"{name} numbers")
        cmd.add_argument("account_id", type=int)
        cmd.add_argument("numbers", nargs="*")
        cmd.add_argument("--csv", type=Path, help="a CSV file whose first column is numbers")
    cmd = _command(stop, "list", _stop_list, "list the stop list")
    cmd.add_argument("account_id", type=int)


def _group(subparsers: Subparsers, name: str, help_text: str) -> Subparsers:
    parser = subparsers.add_parser(name, help=help_text)
    return parser.add_subparsers(dest=f"{name}_command", required=True)


def _command(
    group: Subparsers, name: str, handler: Command, help_text: str
) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help_text)
    add_config_argument(parser)
    parser.set_defaults(func=lambda args: _run(handler, args))
    return parser


def _run(handler: Command, args: argparse.Namespace) -> int:
    out = sys.stdout

    async def main() -> int:
        store = await open_store(database_url(settings_from(args)))
        try:
            return await handler(store, args, out)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except MesijiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _show(account: Account) -> str:
    return (
        f"{account.id}\t{account.name}\t{account.status.value}\tbalance={account.balance}"
        f"\t{account.website or ''}"
    )


async def _account_create(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    if args.callback_url is not None:
        # The rule /v1 applies to a message's callback_url (raises CallbackUrlError).
        allowed = settings_from(args).webhooks.allowed_networks
        check_callback_url(args.callback_url, DestinationPolicy.from_cidrs(allowed))
    account = await store.create_account(
        NewAccount(
            name=args.name,
            website=args.website,
            contact_email=args.email,
            contact_phone=args.phone,
            price_per_segment=args.price_per_segment,
            callback_url=args.callback_url,
        )
    )
    if args.credits:
        await store.add_credits(account.id, args.credits, "opening balance")
    print(f"account {account.id} created: {account.name}", file=out)
    print(f"webhook secret (signs status callbacks): {account.webhook_secret}", file=out)
    return 0


async def _account_list(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    for account in await store.list_accounts():
        print(_show(account), file=out)
    return 0


async def _account_credit(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    balance = await store.add_credits(args.account_id, args.credits, args.reason)
    print(f"account {args.account_id}: balance {balance}", file=out)
    return 0


async def _account_status(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    account = await store.set_account_status(args.account_id, args.status)
    print(_show(account), file=out)
    return 0


def _send_rate(text: str) -> int | None:
    if text.strip().lower() == "default":
        return None
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not 'default' or a whole number >= 0")
    return int(text)


async def _account_rate(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    account = await store.set_send_rate(args.account_id, args.rate)
    rate = "the gateway's default" if account.send_rate is None else account.send_rate or "no limit"
    print(f"account {account.id}: send requests a second: {rate}", file=out)
    return 0


async def _key_create(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    new = generate_api_key()
    record = await store.create_api_key(args.account_id, new.key_hash, new.prefix, args.label)
    print(f"key {record.id} for account {args.account_id} (shown only now):", file=out)
    print(new.secret, file=out)
    return 0


async def _key_list(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    for key in await store.list_api_keys(args.account_id):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "unused"
        print(f"{key.id}\t{key.prefix}…\t{key.label}\t{state}\t{used}", file=out)
    return 0


async def _key_revoke(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    if not await store.revoke_api_key(args.account_id, args.key_id):
        print(f"error: account {args.account_id} has no active key {args.key_id}", file=out)
        return 1
    print(f"key {args.key_id} revoked", file=out)
    return 0


async def _sender_set(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    sender = await store.set_sender(args.account_id, args.name, SenderStatus(args.status))
    print(f"sender {sender.name!r}: {sender.status.value}", file=out)
    return 0


async def _sender_list(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    for sender in await store.list_senders(args.account_id):
        print(f"{sender.name}\t{sender.status.value}", file=out)
    return 0


def _numbers(args: argparse.Namespace, out: TextIO) -> list[str] | None:
    raw = list(args.numbers)
    if args.csv is not None:
        with args.csv.open(newline="", encoding="utf-8-sig") as handle:
            raw += [row[0] for row in csv.reader(handle) if row and row[0].strip()]
    numbers: list[str] = []
    bad = 0
    for entry in raw:
        try:
            numbers.append(parse_destination(entry).e164)
        except NumberError as exc:
            if entry.strip().lower() in {"number", "phone", "msisdn"}:
                continue  # a header row
            bad += 1
            print(f"skipped {entry!r}: {exc}", file=out)
    if bad and not numbers:
        return None
    return numbers


async def _stop_add(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    numbers = _numbers(args, out)
    if numbers is None:
        return 1
    added = await store.add_to_stop_list(args.account_id, numbers)
    print(f"{added} number(s) added, {len(numbers) - added} already listed", file=out)
    return 0


async def _stop_remove(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    numbers = _numbers(args, out)
    if numbers is None:
        return 1
    removed = await store.remove_from_stop_list(args.account_id, numbers)
    print(f"{removed} number(s) removed", file=out)
    return 0


async def _stop_list(store: SqlStore, args: argparse.Namespace, out: TextIO) -> int:
    for number in await store.list_stop_list(args.account_id):
        print(number, file=out)
    return 0
