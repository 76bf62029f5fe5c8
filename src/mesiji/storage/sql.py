"""The SQL adapter: the storage ports on SQLAlchemy Core, for SQLite and PostgreSQL alike.

Every public method is one transaction, opened by :meth:`SqlStore._reading` or
:meth:`SqlStore._writing`, which also translate driver exceptions at this boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import RowMapping, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesiji.clock import Clock, SystemClock
from mesiji.domain.keys import generate_webhook_secret
from mesiji.storage import dialects, transactions
from mesiji.storage.engine import create_engine
from mesiji.storage.errors import InsufficientBalance, NotFound, StorageUnavailable
from mesiji.storage.migrate import run_migrations
from mesiji.storage.records import (
    Account,
    AccountStatus,
    ApiKey,
    NewAccount,
    Sender,
    SenderStatus,
)
from mesiji.storage.schema import accounts, api_keys, balance_ledger, senders, stop_list

__all__ = ["SqlStore", "open_store"]

log = logging.getLogger(__name__)

#: How stale ``api_keys.last_used_at`` may get: writing it on every request would turn the
#: authentication hot path into a write (and serialize it on SQLite).
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: The ledger reason of the credits an account is created with.
OPENING_REASON = "opening balance"


async def open_store(
    url: str,
    *,
    clock: Clock | None = None,
    schema: str | None = None,
    busy_timeout: float = 5.0,
    pool_size: int | None = None,
) -> SqlStore:
    """Connect to ``url``, bring its schema up to date, and return a store that owns the engine.

    See :func:`mesiji.storage.engine.create_engine` for the options. Close the store with
    :meth:`SqlStore.close` (or use it as an async context manager).
    """
    engine = create_engine(
        url, schema=schema, busy_timeout=busy_timeout, pool_size=pool_size, max_overflow=0
    )
    try:
        await run_migrations(engine)
    except BaseException:
        await engine.dispose()
        raise
    return SqlStore(engine, clock=clock, owns_engine=True)


class SqlStore:
    """:class:`~mesiji.storage.ports.AccountStore` on an :class:`AsyncEngine`.

    Timestamps come from ``clock``. With ``owns_engine`` the store disposes of the engine
    when closed; otherwise the engine stays the caller's.
    """

    def __init__(
        self, engine: AsyncEngine, *, clock: Clock | None = None, owns_engine: bool = False
    ) -> None:
        self._engine = engine
        self._clock: Clock = clock or SystemClock()
        self._owns_engine = owns_engine
        self._dialect = engine.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        """The engine the store runs on (for the other stores sharing it, and for tests)."""
        return self._engine

    async def close(self) -> None:
        """Release the connections, if the store owns the engine."""
        if self._owns_engine:
            await self._engine.dispose()

    async def __aenter__(self) -> SqlStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transactions.reading(self._engine)

    def _writing(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return transactions.writing(self._engine)

    # -- accounts ---------------------------------------------------------------------------

    async def create_account(self, new: NewAccount) -> Account:
        """Store a new active account with its opening balance (and its ledger row)."""
        now = self._clock.now()
        values = {
            "name": new.name,
            "website": new.website,
            "contact_email": new.contact_email,
            "contact_phone": new.contact_phone,
            "status": AccountStatus.ACTIVE.value,
            "balance": new.opening_balance,
            "price_per_segment": new.price_per_segment,
            "allowed_regions": ",".join(new.allowed_regions),
            "api_enabled": new.api_enabled,
            "webhook_secret": new.webhook_secret or generate_webhook_secret(),
            "callback_url": new.callback_url,
            "created_at": now,
            "send_rate": _send_rate(new.send_rate),
        }
        async with self._writing() as conn:
            result = await conn.execute(accounts.insert().values(values).returning(*accounts.c))
            account = _account(result.one()._mapping)
            if new.opening_balance:
                ledger = {"account_id": account.id, "delta": new.opening_balance, "at": now}
                await conn.execute(balance_ledger.insert().values(reason=OPENING_REASON, **ledger))
        return account

    async def get_account(self, account_id: int) -> Account | None:
        """The account, or None if there is none with this id."""
        async with self._reading() as conn:
            result = await conn.execute(select(accounts).where(accounts.c.id == account_id))
            row = result.one_or_none()
        return None if row is None else _account(row._mapping)

    async def list_accounts(self) -> list[Account]:
        """Every account, oldest first."""
        async with self._reading() as conn:
            result = await conn.execute(select(accounts).order_by(accounts.c.id))
            return [_account(row._mapping) for row in result]

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account:
        """Suspend or reactivate an account; returns it as updated."""
        statement = (
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(status=AccountStatus(status).value)
            .returning(*accounts.c)
        )
        async with self._writing() as conn:
            row = (await conn.execute(statement)).one_or_none()
        if row is None:
            raise NotFound(f"no account {account_id}")
        return _account(row._mapping)

    async def set_send_rate(self, account_id: int, send_rate: int | None) -> Account:
        """Set the account's own limit on send requests a second (None: the gateway's
        default, 0: no limit); returns it as updated. ValueError for a negative rate."""
        statement = (
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(send_rate=_send_rate(send_rate))
            .returning(*accounts.c)
        )
        async with self._writing() as conn:
            row = (await conn.execute(statement)).one_or_none()
        if row is None:
            raise NotFound(f"no account {account_id}")
        return _account(row._mapping)

    async def add_credits(self, account_id: int, delta: int, reason: str) -> int:
        """Add ``delta`` credits (negative to debit), record a ledger row; the new balance."""
        if delta == 0:
            raise ValueError("a balance change of zero credits")
        # One conditional UPDATE: the check and the change cannot be split by a concurrent
        # debit, on either engine (PostgreSQL re-evaluates the WHERE on the locked row).
        statement = (
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.balance + delta >= 0)
            .values(balance=accounts.c.balance + delta)
            .returning(accounts.c.balance)
        )
        async with self._writing() as conn:
            balance = (await conn.execute(statement)).scalar_one_or_none()
            if balance is None:
                query = select(accounts.c.balance).where(accounts.c.id == account_id)
                current = (await conn.execute(query)).scalar_one_or_none()
                if current is None:
                    raise NotFound(f"no account {account_id}")
                raise InsufficientBalance(required=-delta, available=current)
            await conn.execute(
                balance_ledger.insert().values(
                    account_id=account_id, delta=delta, reason=reason, at=self._clock.now()
                )
            )
        return int(balance)

    # -- API keys ---------------------------------------------------------------------------

    async def create_api_key(
        self, account_id: int, key_hash: str, prefix: str, label: str
    ) -> ApiKey:
        """Store a key's hash; a hash already stored is a Conflict, an unknown account NotFound."""
        statement = (
            api_keys.insert()
            .values(
                account_id=account_id,
                key_hash=key_hash,
                prefix=prefix,
                label=label,
                created_at=self._clock.now(),
            )
            .returning(*api_keys.c)
        )
        async with self._writing() as conn:
            return _api_key((await conn.execute(statement)).one()._mapping)

    async def list_api_keys(self, account_id: int) -> list[ApiKey]:
        """The account's keys, revoked ones included, oldest first."""
        query = select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
        async with self._reading() as conn:
            return [_api_key(row._mapping) for row in await conn.execute(query)]

    async def revoke_api_key(self, account_id: int, key_id: int) -> bool:
        """Revoke the account's key; False if it has no such key or it was already revoked."""
        statement = (
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                api_keys.c.account_id == account_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=self._clock.now())
            .returning(api_keys.c.id)
        )
        async with self._writing() as conn:
            return (await conn.execute(statement)).scalar_one_or_none() is not None

    async def authenticate(self, key_hash: str) -> Account | None:
        """The active, API-enabled account owning an unrevoked key with this hash, else None."""
        query = (
            select(
                accounts,
                api_keys.c.id.label("key_id"),
                api_keys.c.last_used_at.label("key_last_used_at"),
            )
            .join_from(api_keys, accounts, api_keys.c.account_id == accounts.c.id)
            .where(
                api_keys.c.key_hash == key_hash,
                api_keys.c.revoked_at.is_(None),
                accounts.c.status == AccountStatus.ACTIVE.value,
                accounts.c.api_enabled.is_(True),
            )
        )
        async with self._reading() as conn:
            row = (await conn.execute(query)).one_or_none()
        if row is None:
            return None
        now = self._clock.now()
        last_used = row.key_last_used_at
        if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
            await self._note_key_used(row.key_id, now)
        return _account(row._mapping)

    async def _note_key_used(self, key_id: int, now: datetime) -> None:
        # The condition repeats the check so that concurrent requests write it once.
        statement = (
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                or_(
                    api_keys.c.last_used_at.is_(None),
                    api_keys.c.last_used_at <= now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
        )
        try:
            async with self._writing() as conn:
                await conn.execute(statement)
        except StorageUnavailable as exc:
            # The key is valid; failing the request because a usage stamp could not be
            # written would turn bookkeeping into an outage.
            log.warning("could not note the use of API key %s: %s", key_id, exc)

    # -- senders ----------------------------------------------------------------------------

    async def set_sender(self, account_id: int, name: str, status: SenderStatus) -> Sender:
        """Create the sender, or set the status of the account's sender of that name."""
        now = self._clock.now()
        statement = dialects.insert(self._dialect, senders).values(
            account_id=account_id,
            name=name,
            status=SenderStatus(status).value,
            created_at=now,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[senders.c.account_id, senders.c.name],
            set_={"status": statement.excluded.status, "updated_at": statement.excluded.updated_at},
        )
        async with self._writing() as conn:
            row = (await conn.execute(statement.returning(*senders.c))).one()
        return _sender(row._mapping)

    async def get_sender(self, account_id: int, name: str) -> Sender | None:
        """The account's sender of that name, or None."""
        query = select(senders).where(senders.c.account_id == account_id, senders.c.name == name)
        async with self._reading() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _sender(row._mapping)

    async def list_senders(self, account_id: int) -> list[Sender]:
        """The account's senders, by name."""
        query = select(senders).where(senders.c.account_id == account_id).order_by(senders.c.name)
        async with self._reading() as conn:
            return [_sender(row._mapping) for row in await conn.execute(query)]

    # -- stop list --------------------------------------------------------------------------

    async def add_to_stop_list(self, account_id: int, numbers: Iterable[str]) -> int:
        """Add numbers; returns how many were not listed before (repeats count once)."""
        unique = sorted(set(numbers))
        if not unique:
            return 0
        now = self._clock.now()
        statement = (
            dialects.insert(self._dialect, stop_list)
            .on_conflict_do_nothing(index_elements=[stop_list.c.account_id, stop_list.c.number])
            .returning(stop_list.c.number)
        )
        rows = [{"account_id": account_id, "number": n, "created_at": now} for n in unique]
        async with self._writing() as conn:
            # Executed as batched multi-row INSERTs; RETURNING yields only the rows inserted.
            return len((await conn.execute(statement, rows)).all())

    async def remove_from_stop_list(self, account_id: int, numbers: Iterable[str]) -> int:
        """Remove numbers; returns how many were listed."""
        unique = sorted(set(numbers))
        if not unique:
            return 0
        statement = delete(stop_list).where(
            stop_list.c.account_id == account_id,
            dialects.one_of(self._dialect, stop_list.c.number, unique),
        )
        async with self._writing() as conn:
            return (await conn.execute(statement)).rowcount

    async def list_stop_list(
        self, account_id: int, *, after: str | None = None, limit: int | None = None
    ) -> list[str]:
        """The account's stop-listed numbers, sorted: those after ``after``, ``limit`` at most."""
        query = (
            select(stop_list.c.number)
            .where(stop_list.c.account_id == account_id)
            .order_by(stop_list.c.number)
            .limit(limit)
        )
        if after is not None:
            query = query.where(stop_list.c.number > after)
        async with self._reading() as conn:
            return list((await conn.execute(query)).scalars())

    async def stop_listed(self, account_id: int, numbers: Collection[str]) -> set[str]:
        """Which of ``numbers`` are on the account's stop list, in one query however many."""
        unique = sorted(set(numbers))
        if not unique:
            return set()
        query = select(stop_list.c.number).where(
            stop_list.c.account_id == account_id,
            dialects.one_of(self._dialect, stop_list.c.number, unique),
        )
        async with self._reading() as conn:
            return set((await conn.execute(query)).scalars())


def _account(row: RowMapping) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        website=row["website"],
        contact_email=row["contact_email"],
        contact_phone=row["contact_phone"],
        status=AccountStatus(row["status"]),
        balance=row["balance"],
        price_per_segment=row["price_per_segment"],
        allowed_regions=tuple(r for r in row["allowed_regions"].split(",") if r),
        api_enabled=bool(row["api_enabled"]),
        webhook_secret=row["webhook_secret"],
        callback_url=row["callback_url"],
        created_at=row["created_at"],
        send_rate=row["send_rate"],
    )


def _send_rate(rate: int | None) -> int | None:
    if rate is not None and rate < 0:
        raise ValueError("send_rate must be 0 (no limit), a positive number, or None")
    return rate


def _api_key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        account_id=row["account_id"],
        prefix=row["prefix"],
        label=row["label"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _sender(row: RowMapping) -> Sender:
    return Sender(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        status=SenderStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
