"""Accepting a request on SQL: reserve its credits, store its messages, or replay it.

:func:`accept_batch` runs inside a write transaction the caller opened; everything it writes
commits together or not at all. Rows are written with one multi-row statement per table, so
a request of 1,000 messages costs a handful of round trips.

Idempotency: a request with a key first looks the key up in ``idempotency_keys``. A key seen
before answers with the first request's ids and balance (its fingerprint matching) or a
:class:`Conflict`. A new key is claimed by inserting its row *before* the request is stored and
completed with the result at the end, in the same transaction. A concurrent request with the
key therefore waits on that row (PostgreSQL; SQLite has one writer at a time) and, once the
first commits, finds the key taken and replays it: two requests with one key never both store
messages. If the first rolls back (its credits did not suffice), the key was never taken.

Group commit: :func:`accept_group` applies the requests of several API calls in one
transaction, each refused one rolled back alone, with one multi-row INSERT per table for all.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from mesiji.domain.statuses import MessageStatus, PartStatus, derive_message_status
from mesiji.storage import dialects
from mesiji.storage.driver_errors import translate
from mesiji.storage.errors import (
    Conflict,
    InsufficientBalance,
    NotFound,
    StorageError,
    StorageUnavailable,
)
from mesiji.storage.message_ports import AcceptBatch, Accepted, AcceptOutcome, NewMessage
from mesiji.storage.schema import (
    accounts,
    balance_ledger,
    idempotency_keys,
    message_events,
    messages,
    parts,
)

__all__ = [
    "ACCEPT_REASON",
    "accept_batch",
    "accept_group",
    "check_batch",
    "lost_key_race",
]

#: The ledger reason of the credits reserved when messages are accepted.
ACCEPT_REASON = "accept"


def check_batch(batch: AcceptBatch) -> None:
    """Raise ValueError for a request no caller should make."""
    if not batch.messages:
        raise ValueError("a request without messages")
    for m in batch.messages:
        if m.segments < 1 or m.credits < 0:
            raise ValueError(f"{m.segments} segments for {m.credits} credits")


async def accept_batch(conn: AsyncConnection, batch: AcceptBatch, now: datetime) -> Accepted:
    """Replay the request if its key was seen, else reserve its credits and store it.

    Raises :class:`Conflict` for a key seen with another request,
    :class:`InsufficientBalance` when the balance does not cover the request, and
    :class:`NotFound` for an unknown account.
    """
    key = batch.idempotency_key
    if key is not None:
        seen = await _replay_or_claim(conn, batch, key, now)
        if seen is not None:
            return seen
    cost = _cost(batch)
    reserved = _Reserved(batch, await _reserve(conn, batch.account_id, cost), cost)
    ids = await _write_messages(conn, [reserved], now)
    await _complete_keys(conn, [reserved], ids)
    return Accepted(message_ids=ids[0], balance=reserved.balance)


async def accept_group(
    conn: AsyncConnection, batches: Sequence[AcceptBatch], now: datetime
) -> list[AcceptOutcome]:
    """Apply several requests in ``conn``'s write transaction: each one's result or own error.

    Nothing here commits; the group's results hold only once the caller's transaction does.

    1. In the order given: replay each request's idempotency key, or claim it, and reserve
       its credits (the guarded UPDATE sees what earlier requests of the group took). A
       request with a key does this in a savepoint, rolled back with its claim if it is
       refused. Requests without one need none: the reservation is their only write before
       step 2, and a refused reservation writes nothing; consecutive ones of an account are
       reserved with one UPDATE when their total fits (:func:`_reserve_run`). A request
       reusing a key claimed earlier in the group is answered in step 3.
    2. The messages, parts, events and ledger rows of every reserved request: one multi-row
       INSERT per table for the whole group; then the claimed keys get their results.
    3. The requests that reused a key of the group replay it, or conflict with it.

    Refusals (InsufficientBalance, Conflict, NotFound) are returned in their request's slot.
    Anything else is raised: it leaves the transaction in doubt, and the whole group fails.
    """
    outcomes: dict[int, AcceptOutcome] = {}
    reserved: list[tuple[int, _Reserved]] = []
    claimed: set[tuple[int, str]] = set()
    reusing: list[tuple[int, str]] = []
    run: list[int] = []  # consecutive requests of one account without a key

    async def reserve_run() -> None:
        for i, outcome in zip(
            run, await _reserve_run(conn, [batches[i] for i in run]), strict=True
        ):
            if isinstance(outcome, _Reserved):
                reserved.append((i, outcome))
            else:
                outcomes[i] = outcome
        run.clear()

    for i, batch in enumerate(batches):
        key = batch.idempotency_key
        if key is None:
            if run and batches[run[0]].account_id != batch.account_id:
                await reserve_run()
            run.append(i)
            continue
        await reserve_run()  # keep the order of the account's debits
        if (batch.account_id, key) in claimed:
            reusing.append((i, key))
            continue
        try:
            outcome = await _reserve_keyed(conn, batch, key, now)
        except (InsufficientBalance, NotFound) as exc:
            outcomes[i] = exc
            continue
        if isinstance(outcome, _Reserved):
            reserved.append((i, outcome))
            claimed.add((batch.account_id, key))
        else:
            outcomes[i] = outcome
    await reserve_run()
    reserved.sort(key=lambda r: r[0])
    ids = await _write_messages(conn, [r for _, r in reserved], now)
    for (i, r), message_ids in zip(reserved, ids, strict=True):
        outcomes[i] = Accepted(message_ids=message_ids, balance=r.balance)
    await _complete_keys(conn, [r for _, r in reserved], ids)
    for i, key in reusing:
        try:
            seen = await _replay(conn, batches[i], key)
        except Conflict as exc:
            outcomes[i] = exc
            continue
        if seen is None:  # cannot be: this transaction claimed the key
            raise StorageError(f"idempotency key {key!r} vanished")
        outcomes[i] = seen
    return [outcomes[i] for i in range(len(batches))]


async def _reserve_run(
    conn: AsyncConnection, run: Sequence[AcceptBatch]
) -> list[_Reserved | InsufficientBalance | NotFound]:
    """Reserve the credits of consecutive requests of one account, as if one after the other.

    One guarded UPDATE for the run's total when it fits (each request is then given the
    balance it left, as in turn); otherwise request by request. None of them writes anything
    before its reservation, and a refused reservation writes nothing: no savepoint needed.
    """
    if not run:
        return []
    costs = [_cost(b) for b in run]
    if len(run) > 1:
        try:
            balance = await _reserve(conn, run[0].account_id, sum(costs))
        except NotFound as exc:
            return [NotFound(str(exc)) for _ in run]
        except InsufficientBalance:
            pass  # not all of them: some may fit, in turn
        else:
            left = list(itertools.accumulate(reversed(costs[1:]), initial=0))[::-1]
            return [
                _Reserved(b, balance + after, cost)
                for b, cost, after in zip(run, costs, left, strict=True)
            ]
    results: list[_Reserved | InsufficientBalance | NotFound] = []
    for batch, cost in zip(run, costs, strict=True):
        try:
            results.append(_Reserved(batch, await _reserve(conn, batch.account_id, cost), cost))
        except (InsufficientBalance, NotFound) as exc:
            results.append(exc)
    return results


async def _reserve_keyed(
    conn: AsyncConnection, batch: AcceptBatch, key: str, now: datetime
) -> _Reserved | AcceptOutcome:
    """Replay the request, or claim its key and reserve its credits, in a savepoint.

    The reservation, or what the request met: a replay, or a refusal rolled back to the
    savepoint (its key claim with it).
    """
    savepoint = await conn.begin_nested()
    try:
        result: _Reserved | AcceptOutcome | None = await _replay_or_claim(conn, batch, key, now)
        if result is None:
            cost = _cost(batch)
            result = _Reserved(batch, await _reserve(conn, batch.account_id, cost), cost)
    except Exception as exc:
        failure = _own_failure(exc)
        if failure is None:
            raise
        await savepoint.rollback()
        return failure
    await savepoint.commit()
    return result


def lost_key_race(batch: AcceptBatch, outcome: AcceptOutcome) -> bool:
    """Whether ``outcome`` is a concurrent request with the same key committing first.

    Such a request is retried in a transaction of its own, which finds the key and replays it.
    """
    return (
        batch.idempotency_key is not None
        and isinstance(outcome, Conflict)
        and isinstance(outcome.__cause__, IntegrityError)
    )


def _own_failure(exc: Exception) -> StorageError | InsufficientBalance | None:
    """The error a request met on its own, or None when the group's transaction failed."""
    if isinstance(exc, InsufficientBalance | Conflict | NotFound):
        return exc
    error = translate(exc)
    if error is None or isinstance(error, StorageUnavailable):
        return None
    error.__cause__ = exc
    return error


@dataclass(frozen=True, slots=True)
class _Reserved:
    """A request whose credits are reserved: the balance it left, and what it cost."""

    batch: AcceptBatch
    balance: int
    cost: int


def _cost(batch: AcceptBatch) -> int:
    return sum(m.credits for m in batch.messages)


async def _write_messages(
    conn: AsyncConnection, requests: Sequence[_Reserved], now: datetime
) -> list[tuple[int, ...]]:
    """Write the messages, parts, events and ledger rows of reserved requests.

    One multi-row INSERT per table, whatever the number of requests; the message ids of
    each request, in its order.
    """
    if not requests:
        return []
    new = [m for r in requests for m in r.batch.messages]
    statuses = [_initial_status(m.segments, m.send_at, now) for m in new]
    accounts_of = [r.batch.account_id for r in requests for _ in r.batch.messages]
    flat = await _insert_messages(conn, new, accounts_of, statuses, now)
    await conn.execute(
        parts.insert(),
        [
            {
                "message_id": message_id,
                "seqnum": seqnum,
                "total": m.segments,
                "channel": m.channel,
                "status": PartStatus.QUEUED.value,
                "attempts": 0,
            }
            for message_id, m in zip(flat, new, strict=True)
            for seqnum in range(1, m.segments + 1)
        ],
    )
    await conn.execute(
        message_events.insert(),
        [
            {"message_id": message_id, "status": status.value, "reason": None, "at": now}
            for message_id, status in zip(flat, statuses, strict=True)
        ],
    )
    ids: list[tuple[int, ...]] = []
    start = 0
    for r in requests:
        ids.append(tuple(flat[start : start + len(r.batch.messages)]))
        start += len(r.batch.messages)
    ledger = [
        {
            "account_id": r.batch.account_id,
            "delta": -r.cost,
            "reason": ACCEPT_REASON,
            "message_id": message_ids[0],
            "at": now,
        }
        for r, message_ids in zip(requests, ids, strict=True)
        if r.cost
    ]
    if ledger:
        await conn.execute(balance_ledger.insert(), ledger)
    return ids


async def _complete_keys(
    conn: AsyncConnection, requests: Sequence[_Reserved], ids: Sequence[tuple[int, ...]]
) -> None:
    """Fill in the results of the keys these requests claimed (one executemany)."""
    rows = [
        {
            "k_account": r.batch.account_id,
            "k_key": r.batch.idempotency_key,
            "k_ids": json.dumps(message_ids),
            "k_balance": r.balance,
        }
        for r, message_ids in zip(requests, ids, strict=True)
        if r.batch.idempotency_key is not None
    ]
    if rows:
        await conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.account_id == bindparam("k_account"),
                idempotency_keys.c.key == bindparam("k_key"),
            )
            .values(message_ids=bindparam("k_ids"), balance=bindparam("k_balance")),
            rows,
        )


async def _reserve(conn: AsyncConnection, account_id: int, cost: int) -> int:
    """Take ``cost`` credits from the account; the balance left."""
    if cost > 0:
        # One guarded UPDATE: no concurrent debit can come between the check and the change
        # (PostgreSQL re-evaluates the WHERE on the row it waited for).
        statement = (
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.balance >= cost)
            .values(balance=accounts.c.balance - cost)
            .returning(accounts.c.balance)
        )
        balance = (await conn.execute(statement)).scalar_one_or_none()
        if balance is not None:
            return int(balance)
    query = select(accounts.c.balance).where(accounts.c.id == account_id)
    current = (await conn.execute(query)).scalar_one_or_none()
    if current is None:
        raise NotFound(f"no account {account_id}")
    if cost > 0:
        raise InsufficientBalance(required=cost, available=int(current))
    return int(current)


async def _insert_messages(
    conn: AsyncConnection,
    new: Sequence[NewMessage],
    account_ids: Sequence[int],
    statuses: Sequence[MessageStatus],
    now: datetime,
) -> list[int]:
    """Insert the messages; their ids, in the order given."""
    rows = [
        {
            "account_id": account_id,
            "reference": m.reference,
            "sender": m.sender,
            "destination": m.destination,
            "operator": m.operator,
            "channel": m.channel,
            "body": m.body,
            "alphabet": m.alphabet,
            "segments": m.segments,
            "credits": m.credits,
            "status": status.value,
            "error_code": None,
            "urgent": m.urgent,
            "callback_url": m.callback_url,
            "send_at": m.send_at,
            "valid_until": m.valid_until,
            "created_at": now,
            "updated_at": now,
        }
        for m, account_id, status in zip(new, account_ids, statuses, strict=True)
    ]
    sqlite = conn.dialect.name == "sqlite"
    # Asked to keep RETURNING in parameter order, SQLAlchemy sends SQLite one INSERT per row.
    # SQLite numbers the rows of one INSERT in VALUES order and BEGIN IMMEDIATE keeps other
    # writers out, so sorting the ids restores that order at a fraction of the cost.
    statement = messages.insert().returning(messages.c.id, sort_by_parameter_order=not sqlite)
    ids = [row.id for row in await conn.execute(statement, rows)]
    return sorted(ids) if sqlite else ids


async def _replay(conn: AsyncConnection, batch: AcceptBatch, key: str) -> Accepted | None:
    """The first result of a request with this key, or None if the key is new."""
    query = select(
        idempotency_keys.c.request_hash,
        idempotency_keys.c.message_ids,
        idempotency_keys.c.balance,
    ).where(
        idempotency_keys.c.account_id == batch.account_id,
        idempotency_keys.c.key == key,
    )
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return None
    ids = tuple(int(i) for i in json.loads(row.message_ids))
    # The fingerprint decides; the number of messages guards against a caller without one.
    if row.request_hash != batch.request_hash or len(ids) != len(batch.messages):
        raise Conflict(f"idempotency key {key!r} was used for a different request")
    return Accepted(message_ids=ids, balance=int(row.balance), replayed=True)


async def _replay_or_claim(
    conn: AsyncConnection, batch: AcceptBatch, key: str, now: datetime
) -> Accepted | None:
    """Replay the first request with this key, or take the key for this one (None).

    Raises :class:`Conflict` for a key used with another request. A concurrent request may
    claim the key after the lookup: the insert then waits for it to commit, and the lookup
    repeated after it (READ COMMITTED: a new snapshot) sees its result.
    """
    seen = await _replay(conn, batch, key)
    if seen is not None or await _claim_key(conn, batch, key, now):
        return seen
    seen = await _replay(conn, batch, key)
    if seen is None:
        raise Conflict(f"idempotency key {key!r} is in use by a concurrent request")
    return seen


async def _claim_key(conn: AsyncConnection, batch: AcceptBatch, key: str, now: datetime) -> bool:
    """Take the key for this request; False if another request holds it.

    The row's result columns are placeholders until :func:`_complete_keys` fills them in, in
    the same transaction: no other transaction ever sees them. On PostgreSQL the insert waits
    for a concurrent transaction that inserted the key and finds a conflict only if it commits.
    """
    statement = (
        dialects.insert(conn.dialect.name, idempotency_keys)
        .values(
            account_id=batch.account_id,
            key=key,
            request_hash=batch.request_hash,
            message_ids="[]",
            balance=0,
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=[idempotency_keys.c.account_id, idempotency_keys.c.key]
        )
        .returning(idempotency_keys.c.key)
    )
    return (await conn.execute(statement)).first() is not None


def _initial_status(segments: int, send_at: datetime | None, now: datetime) -> MessageStatus:
    return derive_message_status([PartStatus.QUEUED] * segments, send_at=send_at, now=now)
