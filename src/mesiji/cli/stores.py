"""The database behind an administration command: settings, opening it, and account checks."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from mesiji.bootstrap import database_url
from mesiji.cli.inputs import CommandError
from mesiji.settings import Settings, load_settings
from mesiji.storage.records import Account
from mesiji.storage.sql import SqlStore, open_store

__all__ = ["Command", "add_config_argument", "existing_account", "run_command", "settings_from"]

#: An administration command: reads its arguments, works on the store, prints to ``out``;
#: returns the exit status, or raises a MesijiError that ``mesiji`` prints as one line.
Command = Callable[[SqlStore, argparse.Namespace, TextIO], Awaitable[int]]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--config``."""
    parser.add_argument("--config", type=Path, help="TOML settings file (docs/configuration.md)")


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings named by ``--config``, with the process environment's overrides."""
    return load_settings(args.config, os.environ)


async def open_command_store(settings: Settings) -> SqlStore:
    """The configured database, migrated (tests replace this to choose a schema)."""
    return await open_store(database_url(settings))


def run_command(handler: Command, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``handler`` on the configured database, closed again afterwards."""
    settings = settings_from(args)

    async def main() -> int:
        store = await open_command_store(settings)
        try:
            return await handler(store, args, out or sys.stdout)
        finally:
            await store.close()

    return asyncio.run(main())


async def existing_account(store: SqlStore, account_id: int) -> Account:
    """The account, or CommandError: commands name the missing account, not a foreign key."""
    account = await store.get_account(account_id)
    if account is None:
        raise CommandError(f"no account {account_id}")
    return account
