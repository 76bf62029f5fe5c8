"""Lookups: what every request reads about its account, kept for a few seconds.

Each send request needs its API key's account, its sender's status and the account's stop
list; each callback needs its account's webhook secret. Read from the database every time,
they cost more than storing the message itself (three read transactions per request, measured
on the peer benchmark). :class:`AccountLookups` keeps each answer for ``ttl`` seconds.

What that means for an operator: a change made through this process (the HTTP API's stop
list) is seen at once; one made elsewhere (the CLI, another gateway on the same PostgreSQL) is
seen within ``ttl`` seconds: a revoked key, a suspended account, a sender no longer active, a
number just put on the stop list. Balances are never taken from here: credits are reserved in
the accept transaction itself.

Concurrent misses for the same key share one database read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Hashable
from typing import Generic, TypeVar

from mesiji.clock import Clock
from mesiji.storage.ports import AccountStore
from mesiji.storage.records import Account, Sender

__all__ = ["AccountLookups", "TtlCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values kept ``ttl`` seconds of ``clock``, at most ``max_entries`` of them.

    ``ttl`` 0 keeps nothing (every call loads). When full, the cache is emptied: entries are
    few (accounts, their keys and senders), so this only bounds a pathological case.
    """

    def __init__(self, clock: Clock, ttl: float, *, max_entries: int = 10_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The value for ``key``: cached, or loaded by ``load`` (once for concurrent callers)."""
        now = self._clock.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            # Marks the exception as retrieved when no other caller was waiting for it.
            future.exception()
            raise
        else:
            future.set_result(value)
            if self._ttl > 0:
                if len(self._entries) >= self._max_entries:
                    self._entries.clear()
                self._entries[key] = (now + self._ttl, value)
            return value
        finally:
            del self._loading[key]

    def forget(self, key: K) -> None:
        """Drop ``key``: the next :meth:`get` loads it again."""
        self._entries.pop(key, None)


class AccountLookups:
    """Cached reads of accounts, keys, senders, stop lists and webhook secrets.

    A stop list of at most ``max_stop_list`` numbers is kept whole per account; a longer one
    is asked about per request (one query for all the request's numbers).
    """

    def __init__(
        self,
        store: AccountStore,
        clock: Clock,
        *,
        ttl: float,
        max_stop_list: int = 10_000,
    ) -> None:
        self._store = store
        self._max_stop_list = max_stop_list
        self._keys: TtlCache[str, Account | None] = TtlCache(clock, ttl)
        self._senders: TtlCache[tuple[int, str], Sender | None] = TtlCache(clock, ttl)
        self._stop_lists: TtlCache[int, frozenset[str] | None] = TtlCache(clock, ttl)
        self._secrets: TtlCache[int, str | None] = TtlCache(clock, ttl)

    async def authenticate(self, key_hash: str) -> Account | None:
        """The account of the API key with this hash (see ``AccountStore.authenticate``)."""
        return await self._keys.get(key_hash, lambda: self._store.authenticate(key_hash))

    async def sender(self, account_id: int, name: str) -> Sender | None:
        """The account's sender of that name, or None."""
        return await self._senders.get(
            (account_id, name), lambda: self._store.get_sender(account_id, name)
        )

    async def stop_listed(self, account_id: int, numbers: Collection[str]) -> set[str]:
        """Which of ``numbers`` are on the account's stop list."""
        if not numbers:
            return set()
        listed = await self._stop_lists.get(account_id, lambda: self._load_stop_list(account_id))
        if listed is None:  # too long to keep: ask the database
            return await self._store.stop_listed(account_id, numbers)
        return {number for number in numbers if number in listed}

    async def webhook_secret(self, account_id: int) -> str | None:
        """The account's webhook secret, or None when the account does not exist."""
        return await self._secrets.get(account_id, lambda: self._load_secret(account_id))

    def stop_list_changed(self, account_id: int) -> None:
        """The account's stop list was changed through this process: read it again."""
        self._stop_lists.forget(account_id)

    async def _load_stop_list(self, account_id: int) -> frozenset[str] | None:
        numbers = await self._store.list_stop_list(account_id, limit=self._max_stop_list + 1)
        return frozenset(numbers) if len(numbers) <= self._max_stop_list else None

    async def _load_secret(self, account_id: int) -> str | None:
        account = await self._store.get_account(account_id)
        return account.webhook_secret if account is not None else None
