"""The accept batcher: group commits, each caller's outcome, shutdown; AcceptService on it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pytest

from mesiji.errors import Overloaded
from mesiji.services.accept import AcceptService, Recipient, SendRequest
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.services.group_commit import AcceptBatcher
from mesiji.services.lookups import AccountLookups
from mesiji.settings import ChannelSettings
from mesiji.storage import Conflict, InsufficientBalance, StorageError, StorageUnavailable
from mesiji.storage.message_ports import AcceptBatch, Accepted, AcceptOutcome, NewMessage
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.records import Account, NewAccount, SenderStatus
from mesiji.storage.sql import SqlStore
from mesiji.testing import VirtualClock

RICH, POOR, CLASHING, POISONED = 1, 2, 3, 4

_MESSAGE = NewMessage(
    sender="Shop",
    destination="995599000000",
    body="hi",
    alphabet="gsm7",
    segments=1,
    credits=1,
    channel="magti",
)


def _batch(account: int = RICH) -> AcceptBatch:
    return AcceptBatch(account, [_MESSAGE])


class GroupStore:
    """A GroupAcceptStore whose outcome depends on the account; records every group.

    ``gate`` holds accept_many until set; ``fail`` makes the next group raise; a group holding
    a request of account POISONED raises as a database refusing one of its values would.
    """

    def __init__(self) -> None:
        self.groups: list[list[AcceptBatch]] = []
        self.nows: list[datetime] = []
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None
        self._ids = itertools.count(1)

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        raise AssertionError("the batcher must commit through accept_many")

    async def accept_many(
        self, batches: Sequence[AcceptBatch], now: datetime
    ) -> list[AcceptOutcome]:
        self.groups.append(list(batches))
        self.nows.append(now)
        if self.gate is not None:
            await self.gate.wait()
        failure, self.fail = self.fail, None
        if failure is not None:
            raise failure
        if any(b.account_id == POISONED for b in batches):
            raise StorageError("invalid byte sequence for encoding UTF8: 0x00")
        return [self._outcome(b) for b in batches]

    def _outcome(self, batch: AcceptBatch) -> AcceptOutcome:
        if batch.account_id == POOR:
            return InsufficientBalance(required=1, available=0)
        if batch.account_id == CLASHING:
            return Conflict("key reused")
        return Accepted((next(self._ids),), balance=7)

    @property
    def sizes(self) -> list[int]:
        return [len(g) for g in self.groups]


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def group_store() -> GroupStore:
    return GroupStore()


async def test_requests_arriving_during_a_commit_form_the_next_group(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    group_store.gate = asyncio.Event()
    first = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    assert group_store.sizes == [1]
    rest = [asyncio.create_task(batcher.accept(_batch(), clock.now())) for _ in range(10)]
    await _settle()
    assert (group_store.sizes, batcher.queued) == ([1], 10)
    group_store.gate.set()
    results = await asyncio.gather(first, *rest)
    assert group_store.sizes == [1, 10]
    assert len({r.message_ids for r in results}) == 11
    assert (batcher.groups, batcher.requests) == (2, 11)


async def test_a_group_holds_at_most_max_batch_requests(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_batch=4, max_delay=0)
    await asyncio.gather(*(batcher.accept(_batch(), clock.now()) for _ in range(10)))
    assert group_store.sizes == [4, 4, 2]


async def test_each_caller_gets_its_own_outcome(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    outcomes = await asyncio.gather(
        *(batcher.accept(_batch(a), clock.now()) for a in (RICH, POOR, RICH, CLASHING)),
        return_exceptions=True,
    )
    assert group_store.sizes == [4]
    rich, poor, rich_too, clashing = outcomes
    assert isinstance(rich, Accepted)
    assert isinstance(rich_too, Accepted)
    assert isinstance(poor, InsufficientBalance)
    assert isinstance(clashing, Conflict)


async def test_a_failed_commit_fails_every_caller_of_the_group(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    locked = StorageUnavailable("database is locked")
    group_store.fail = locked
    outcomes = await asyncio.gather(
        *(batcher.accept(_batch(), clock.now()) for _ in range(3)), return_exceptions=True
    )
    assert group_store.sizes == [3]
    assert all(isinstance(o, StorageUnavailable) for o in outcomes)
    # One exception per caller, each caused by the group's.
    assert len({id(o) for o in outcomes}) == 3
    assert all(isinstance(o, BaseException) and o.__cause__ is locked for o in outcomes)
    # The batcher carries on with the next group.
    assert isinstance(await batcher.accept(_batch(), clock.now()), Accepted)


async def test_a_poisoned_request_fails_alone_and_its_companions_are_committed(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    accounts = [RICH, RICH, RICH, RICH, RICH, POISONED, RICH, POOR]
    outcomes = await asyncio.gather(
        *(batcher.accept(_batch(a), clock.now()) for a in accounts), return_exceptions=True
    )
    kinds = [type(o) for o in outcomes]
    assert kinds == [Accepted] * 5 + [StorageError, Accepted, InsufficientBalance]
    assert len({o.message_ids for o in outcomes if isinstance(o, Accepted)}) == 6
    # Halved down to the poisoned request: [8] fails, [0-3] commits, [4-7] fails, [4,5] fails,
    # [4] commits, [5] fails alone, [6,7] commits.
    assert group_store.sizes == [8, 4, 4, 2, 1, 1, 2]
    assert (batcher.groups, batcher.requests, batcher.split) == (1, 8, 3)


async def test_several_poisoned_requests_each_fail_alone(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    accounts = [POISONED if i in (9, 50) else RICH for i in range(64)]
    outcomes = await asyncio.gather(
        *(batcher.accept(_batch(a), clock.now()) for a in accounts), return_exceptions=True
    )
    for account, outcome in zip(accounts, outcomes, strict=True):
        assert isinstance(outcome, StorageError if account == POISONED else Accepted)
    # Every poisoned request was tried alone once; far fewer commits than one per request.
    assert sum(1 for g in group_store.groups if [b.account_id for b in g] == [POISONED]) == 2
    assert len(group_store.groups) < 32


async def test_an_error_of_every_request_reaches_each_of_them(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    outcomes = await asyncio.gather(
        *(batcher.accept(_batch(POISONED), clock.now()) for _ in range(3)),
        return_exceptions=True,
    )
    assert [type(o) for o in outcomes] == [StorageError] * 3
    assert group_store.sizes == [3, 1, 2, 1, 1]


async def test_an_unexpected_error_is_retried_in_halves(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    group_store.fail = RuntimeError("bug")  # this once: the halves commit
    outcomes = await asyncio.gather(
        *(batcher.accept(_batch(), clock.now()) for _ in range(2)), return_exceptions=True
    )
    assert [type(o) for o in outcomes] == [Accepted, Accepted]
    assert group_store.sizes == [2, 1, 1]


async def test_a_group_is_stamped_with_its_latest_request_time(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    now = clock.now()
    await asyncio.gather(
        batcher.accept(_batch(), now + timedelta(seconds=2)),
        batcher.accept(_batch(), now + timedelta(seconds=5)),
        batcher.accept(_batch(), now),
    )
    assert group_store.nows == [now + timedelta(seconds=5)]


async def test_an_idle_batcher_waits_max_delay_for_companions(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0.01)
    first = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    second = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    assert group_store.groups == []
    await clock.advance(0.01)
    await asyncio.gather(first, second)
    assert group_store.sizes == [2]


async def test_a_caller_that_gave_up_is_left_out(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    group_store.gate = asyncio.Event()
    first = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    gone = asyncio.create_task(batcher.accept(_batch(POOR), clock.now()))
    kept = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    gone.cancel()
    group_store.gate.set()
    await asyncio.gather(first, kept)
    assert gone.cancelled()
    assert [[b.account_id for b in g] for g in group_store.groups] == [[RICH], [RICH]]


async def test_close_commits_what_is_queued_and_refuses_new_requests(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    group_store.gate = asyncio.Event()
    pending = [asyncio.create_task(batcher.accept(_batch(), clock.now())) for _ in range(5)]
    await _settle()
    closing = asyncio.create_task(batcher.close())
    await _settle()
    assert not closing.done()
    with pytest.raises(StorageUnavailable):
        await batcher.accept(_batch(), clock.now())
    group_store.gate.set()
    await closing
    assert all(isinstance(p.result(), Accepted) for p in pending)
    assert group_store.sizes == [5]
    await batcher.close()  # again: nothing to wait for


async def test_the_committer_ends_when_the_queue_is_empty(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    await batcher.accept(_batch(), clock.now())
    await _settle()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "mesiji-accept-commit"]
    await batcher.accept(_batch(), clock.now())
    assert group_store.sizes == [1, 1]


async def test_a_cancelled_committer_fails_its_callers(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0)
    group_store.gate = asyncio.Event()
    in_flight = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    queued = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    [committer] = [t for t in asyncio.all_tasks() if t.get_name() == "mesiji-accept-commit"]
    committer.cancel()
    for task in (in_flight, queued):
        with pytest.raises(StorageUnavailable):
            await task
    # A new request starts a new committer.
    group_store.gate.set()
    assert isinstance(await batcher.accept(_batch(), clock.now()), Accepted)


async def test_requests_beyond_max_queued_are_refused_as_overload(
    group_store: GroupStore, clock: VirtualClock
) -> None:
    batcher = AcceptBatcher(group_store, clock, max_delay=0, max_queued=3)
    group_store.gate = asyncio.Event()
    committing = asyncio.create_task(batcher.accept(_batch(), clock.now()))
    await _settle()
    waiting = [asyncio.create_task(batcher.accept(_batch(), clock.now())) for _ in range(3)]
    await _settle()
    with pytest.raises(Overloaded):
        await batcher.accept(_batch(), clock.now())
    assert batcher.overloaded == 1
    group_store.gate.set()
    assert len(await asyncio.gather(committing, *waiting)) == 4
    # Room again once the queue drained.
    assert isinstance(await batcher.accept(_batch(), clock.now()), Accepted)


def test_settings_are_checked(group_store: GroupStore, clock: VirtualClock) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        AcceptBatcher(group_store, clock, max_batch=0)
    with pytest.raises(ValueError, match="max_queued"):
        AcceptBatcher(group_store, clock, max_queued=0)
    with pytest.raises(ValueError, match="max_delay"):
        AcceptBatcher(group_store, clock, max_delay=-1)


# -- AcceptService through the batcher, on SQLite -----------------------------------------------


async def _account(store: SqlStore, credits: int) -> Account:
    account = await store.create_account(NewAccount(name="Shop LLC"))
    await store.add_credits(account.id, credits, "test")
    await store.set_sender(account.id, "Shop", SenderStatus.ACTIVE)
    found = await store.get_account(account.id)
    assert found is not None
    return found


def _service(
    sql_store: SqlStore,
    clock: VirtualClock,
    batcher: AcceptBatcher,
    on_accepted: Callable[[], None] | None = None,
) -> AcceptService:
    """An AcceptService reading the accounts of ``sql_store`` and storing through ``batcher``."""
    return AcceptService(
        AccountLookups(sql_store, clock, ttl=2.0),
        SqlMessageStore(sql_store.engine),
        ChannelSettings(),
        clock,
        on_accepted=on_accepted,
        batcher=batcher,
    )


def _request(*numbers: str, key: str | None = None, fingerprint: str | None = None) -> SendRequest:
    return SendRequest(
        sender="Shop",
        recipients=[Recipient(n, "gamarjoba") for n in numbers],
        idempotency_key=key,
        request_hash=fingerprint,
    )


async def test_the_service_accepts_concurrent_requests_in_groups(
    sql_store: SqlStore, clock: VirtualClock
) -> None:
    account = await _account(sql_store, 3)
    batcher = AcceptBatcher(SqlMessageStore(sql_store.engine), clock, max_delay=0)
    accepted: list[None] = []
    service = _service(sql_store, clock, batcher, on_accepted=lambda: accepted.append(None))
    outcomes = await asyncio.gather(
        *(service.send(account, _request(f"+9955990000{i:02d}")) for i in range(5)),
        return_exceptions=True,
    )
    await batcher.close()
    results = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, RequestError)]
    assert sorted(r.balance for r in results) == [0, 1, 2]
    assert [e.code for e in refused] == [ErrorCode.insufficient_balance] * 2
    assert len(accepted) == 3
    assert batcher.groups < 5


async def test_the_service_maps_the_batcher_errors_as_before(
    sql_store: SqlStore, clock: VirtualClock
) -> None:
    account = await _account(sql_store, 10)
    service = _service(
        sql_store, clock, AcceptBatcher(SqlMessageStore(sql_store.engine), clock, max_delay=0)
    )
    first = await service.send(account, _request("+995599000001", key="k", fingerprint="a"))
    again = await service.send(account, _request("+995599000001", key="k", fingerprint="a"))
    assert again.replayed
    assert [m.id for m in again.messages] == [m.id for m in first.messages]
    with pytest.raises(RequestError) as raised:
        await service.send(account, _request("+995599000002", key="k", fingerprint="b"))
    assert raised.value.code is ErrorCode.idempotency_conflict
    numbers = [f"+9955990001{i:02d}" for i in range(20)]
    with pytest.raises(RequestError) as raised:
        await service.send(account, _request(*numbers))
    assert raised.value.code is ErrorCode.insufficient_balance

    group_store = GroupStore()
    group_store.fail = StorageUnavailable("disk full")
    failing = _service(sql_store, clock, AcceptBatcher(group_store, clock, max_delay=0))
    with pytest.raises(RequestError) as raised:
        await failing.send(account, _request("+995599000003"))
    assert (raised.value.code, raised.value.transient) == (ErrorCode.unavailable, True)

    group_store.gate = asyncio.Event()
    full = _service(sql_store, clock, AcceptBatcher(group_store, clock, max_delay=0, max_queued=1))
    committing = asyncio.create_task(full.send(account, _request("+995599000004")))
    await _settle()
    waiting = asyncio.create_task(full.send(account, _request("+995599000005")))
    await _settle()
    with pytest.raises(RequestError) as raised:
        await full.send(account, _request("+995599000006"))
    assert (raised.value.code, raised.value.transient) == (ErrorCode.too_many_requests, True)
    assert raised.value.code.http_status == 429
    group_store.gate.set()
    await asyncio.gather(committing, waiting)
