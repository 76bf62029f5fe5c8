"""What the gateway needs from storage, as protocols; adapters implement them.

Services depend on the narrowest protocol they use (a sender workflow takes :class:`Senders`,
the HTTP authentication takes :class:`ApiKeys`). :class:`AccountStore` is all of them. The
message pipeline adds its own protocols beside these (messages, the dispatch queue, receipts,
the notification outbox), implemented by the same adapters.

Every method is one transaction: it happens entirely or not at all. Failures are
:mod:`mesiji.storage.errors`: :class:`~mesiji.storage.errors.StorageUnavailable` when the
database cannot serve now, :class:`~mesiji.storage.errors.NotFound` when the account (or the
row named) does not exist.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from mesiji.storage.records import Account, AccountStatus, ApiKey, NewAccount, Sender, SenderStatus

__all__ = ["AccountStore", "Accounts", "ApiKeys", "Senders", "StopList"]


class Accounts(Protocol):
    """Accounts and their credit balance."""

    async def create_account(self, new: NewAccount) -> Account:
        """Store a new active account with its opening balance, in one transaction."""
        ...

    async def get_account(self, account_id: int) -> Account | None:
        """The account, or None if there is none with this id."""
        ...

    async def list_accounts(self) -> list[Account]:
        """Every account, oldest first."""
        ...

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account:
        """Suspend or reactivate an account; returns it as updated."""
        ...

    async def set_send_rate(self, account_id: int, send_rate: int | None) -> Account:
        """Set the account's own limit on send requests a second (None: the gateway's
        default, 0: no limit); returns it as updated."""
        ...

    async def add_credits(self, account_id: int, delta: int, reason: str) -> int:
        """Add ``delta`` credits (negative to debit) and record why; returns the new balance.

        A debit larger than the balance raises
        :class:`~mesiji.domain.credits.InsufficientBalance` and changes nothing; concurrent
        debits never take the balance below zero. ``delta`` must not be zero.
        """
        ...


class ApiKeys(Protocol):
    """API keys, stored as hashes, and authentication by key."""

    async def create_api_key(
        self, account_id: int, key_hash: str, prefix: str, label: str
    ) -> ApiKey:
        """Store a key's hash for the account.

        A hash already stored raises :class:`~mesiji.storage.errors.Conflict`.
        """
        ...

    async def list_api_keys(self, account_id: int) -> list[ApiKey]:
        """The account's keys, revoked ones included, oldest first."""
        ...

    async def revoke_api_key(self, account_id: int, key_id: int) -> bool:
        """Revoke the account's key; False if it has no such key or it was already revoked."""
        ...

    async def authenticate(self, key_hash: str) -> Account | None:
        """The account owning an usable key with this hash, else None.

        None as well for a revoked key, a suspended account, or an account whose API access is
        disabled. Notes the key's ``last_used_at``, at most once a minute per key.
        """
        ...


class Senders(Protocol):
    """Sender names of each account and their authorization status."""

    async def set_sender(self, account_id: int, name: str, status: SenderStatus) -> Sender:
        """Create the sender, or set the status of the account's sender of that name."""
        ...

    async def get_sender(self, account_id: int, name: str) -> Sender | None:
        """The account's sender of that name, or None."""
        ...

    async def list_senders(self, account_id: int) -> list[Sender]:
        """The account's senders, by name."""
        ...


class StopList(Protocol):
    """Numbers an account must not send to (opt-outs, complaints)."""

    async def add_to_stop_list(self, account_id: int, numbers: Iterable[str]) -> int:
        """Add numbers; returns how many were not listed before (repeats count once)."""
        ...

    async def remove_from_stop_list(self, account_id: int, numbers: Iterable[str]) -> int:
        """Remove numbers; returns how many were listed."""
        ...

    async def list_stop_list(
        self, account_id: int, *, after: str | None = None, limit: int | None = None
    ) -> list[str]:
        """The account's stop-listed numbers, sorted: those after ``after``, ``limit`` at most."""
        ...

    async def stop_listed(self, account_id: int, numbers: Collection[str]) -> set[str]:
        """Which of ``numbers`` are on the account's stop list, in one query however many."""
        ...


class AccountStore(Accounts, ApiKeys, Senders, StopList, Protocol):
    """Everything about accounts that the gateway stores."""
