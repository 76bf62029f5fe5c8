"""Group commit for accepted requests: many API requests, one transaction, one fsync.

Every accepted request must be durable before its answer goes out, so on SQLite
(``synchronous=FULL``) each one used to cost a transaction of its own with an fsync, and
concurrent requests queued for the single write lock. :class:`AcceptBatcher` queues the
requests instead; one committer task takes everything queued (up to ``max_batch``) and stores
it with :meth:`~mesiji.storage.message_ports.GroupAcceptStore.accept_many` in one transaction.
Each caller then gets its own result, or its own error (its balance, its idempotency key), only
after that commit. If the transaction fails for a reason other than a transient one, the group
is committed again in halves (:func:`~mesiji.services.commit_apart.commit_apart`): a request
the database refuses fails alone and its companions are committed. A transient failure
(StorageUnavailable: locked, full, unreachable) fails every caller of the group.

Batching is natural: while one group commits, new requests queue for the next, so the busier
the gateway, the larger the groups, with no timer. ``max_delay`` only applies when a request
finds the committer idle: it waits that long for companions before committing.

Overload: when ``max_queued`` requests already wait for a commit (the database cannot keep
up), a new one is refused at once with :class:`~mesiji.errors.Overloaded` (HTTP 429 and
``Retry-After``) instead of joining a queue whose answers would come too late to be useful.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mesiji.clock import Clock
from mesiji.errors import Overloaded
from mesiji.services.commit_apart import commit_apart
from mesiji.storage.errors import StorageUnavailable
from mesiji.storage.message_ports import AcceptBatch, Accepted, AcceptOutcome, GroupAcceptStore

__all__ = ["AcceptBatcher"]


@dataclass(frozen=True, slots=True)
class _Request:
    batch: AcceptBatch
    now: datetime
    future: asyncio.Future[Accepted]


class AcceptBatcher:
    """Accepts requests through group commits; use it where ``store.accept`` was called.

    ``accept`` raises what ``store.accept`` would: InsufficientBalance, Conflict, NotFound,
    StorageUnavailable; and :class:`~mesiji.errors.Overloaded` when ``max_queued`` requests
    are already waiting. :meth:`close` refuses new requests and waits for the queued ones.
    """

    def __init__(
        self,
        store: GroupAcceptStore,
        clock: Clock,
        *,
        max_batch: int = 256,
        max_delay: float = 0.002,
        max_queued: int = 4096,
    ) -> None:
        if max_batch < 1 or max_queued < 1:
            raise ValueError("max_batch and max_queued must be at least 1")
        if max_delay < 0:
            raise ValueError(f"max_delay cannot be negative: {max_delay}")
        self._store = store
        self._clock = clock
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_queued = max_queued
        self._queue: deque[_Request] = deque()
        self._committer: asyncio.Task[None] | None = None
        self._closed = False
        #: Transactions run and requests they held, for metrics and tests.
        self.groups = 0
        self.requests = 0
        #: Requests refused because ``max_queued`` were waiting.
        self.overloaded = 0
        #: Commits that failed and were retried in halves (see commit_apart).
        self.split = 0

    @property
    def queued(self) -> int:
        """Requests waiting for the next group."""
        return len(self._queue)

    async def accept(self, batch: AcceptBatch, now: datetime) -> Accepted:
        """Store ``batch`` in the next group commit; its result once that commit is durable."""
        if self._closed:
            raise StorageUnavailable("the gateway is shutting down")
        if len(self._queue) >= self._max_queued:
            self.overloaded += 1
            raise Overloaded(f"{len(self._queue)} requests are waiting to be stored")
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(batch, now, future))
        if self._committer is None:
            self._committer = asyncio.create_task(self._run(), name="mesiji-accept-commit")
        return await future

    async def close(self) -> None:
        """Refuse new requests and wait until the queued ones are committed."""
        self._closed = True
        committer = self._committer
        if committer is not None:
            # asyncio.wait: cancelling close() must not cancel the commit in flight.
            await asyncio.wait({committer})

    async def _run(self) -> None:
        """Commit groups until the queue is empty, then end (the next request starts anew)."""
        try:
            if self._max_delay > 0 and len(self._queue) < self._max_batch:
                await self._clock.sleep(self._max_delay)
            else:
                # Let the requests that are ready to run join the first group.
                await asyncio.sleep(0)
            while self._queue:
                group = self._take()
                if group:
                    await self._commit(group)
        finally:
            self._committer = None
            # Only when the task was cancelled (the loop is closing): nobody commits these.
            while self._queue:
                _fail(self._queue.popleft().future, StorageUnavailable("the gateway stopped"))

    def _take(self) -> list[_Request]:
        group: list[_Request] = []
        while self._queue and len(group) < self._max_batch:
            request = self._queue.popleft()
            if not request.future.done():  # a caller that gave up is left out
                group.append(request)
        return group

    async def _commit(self, group: list[_Request]) -> None:
        self.groups += 1
        self.requests += len(group)

        async def commit(part: Sequence[_Request]) -> list[AcceptOutcome]:
            # One timestamp per transaction: the latest request's, so no message is stamped
            # before its request was checked.
            now = max(r.now for r in part)
            return await self._store.accept_many([r.batch for r in part], now)

        def deliver(index: int, outcome: AcceptOutcome | Exception) -> None:
            future = group[index].future
            if isinstance(outcome, Accepted):
                if not future.done():
                    future.set_result(outcome)
            else:
                _fail(future, _for_caller(outcome))

        try:
            self.split += await commit_apart(group, commit, deliver)
        finally:
            # Interrupted (cancelled) with the outcome unknown: nobody left is told their
            # request was stored.
            for request in group:
                if not request.future.done():
                    _fail(request.future, _for_caller(None))


def _for_caller(failure: BaseException | None) -> BaseException:
    """The exception one caller of a failed group raises."""
    if failure is None:
        return StorageUnavailable("the commit was interrupted; its outcome is unknown")
    if isinstance(failure, StorageUnavailable):
        # One instance per caller: each raise would otherwise extend the same traceback.
        error = StorageUnavailable(str(failure))
        error.__cause__ = failure
        return error
    return failure


def _fail(future: asyncio.Future[Accepted], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
