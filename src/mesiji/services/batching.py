"""Batch writing: many outcomes stored with one call, one transaction (group commit).

Dispatch (submit results) and notify (callback attempts) learn their outcomes one at a time,
and each must be stored. A transaction per outcome would cost a commit, and on SQLite
(``synchronous=FULL``) an fsync, per submit_sm_resp or per callback; :class:`BatchWriter`
gathers the outcomes instead and hands them to one ``write`` call::

    add(item) ──▶ pending ──(``batch`` waiting, ``delay`` passed, or asked)──▶ write(items)

A batch is written once ``batch`` items wait, ``delay`` seconds of the injected clock after
the first of them came, or at once on :meth:`BatchWriter.flush_soon` (nothing else is on its
way, so waiting would only add latency), in eager mode (:meth:`BatchWriter.eager`: a shutdown,
nothing is worth waiting for) and on :meth:`BatchWriter.close`.

A write that fails for a reason that is not transient is first tried again in halves
(:func:`~mesiji.services.commit_apart.commit_apart`), so the items the database takes are
stored and only those it refuses are left. What is left (or a whole batch that failed for a
transient reason) is tried again with backoff, as :class:`RetryPolicy` says; an item given up
is lost to storage, so callers only give up on what comes back by itself (a part or a
notification whose lease runs out is claimed and sent again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from mesiji.clock import Clock, first_completed
from mesiji.pacing import Backoff
from mesiji.services.commit_apart import commit_apart

__all__ = ["BatchWriter", "RetryPolicy"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a batch whose write failed is tried again: after an exponential backoff (with
    jitter) from ``backoff_initial`` up to ``backoff_max`` seconds of the writer's clock."""

    #: Tries before the batch is given up; None: tried until the writer is closing.
    tries: int | None = None
    #: Tries before giving up once the writer is closing (a shutdown should not hang on a
    #: database that is down). Tries made before the close count.
    tries_closing: int = 3
    backoff_initial: float = 0.1
    backoff_max: float = 5.0

    def __post_init__(self) -> None:
        if (self.tries is not None and self.tries < 1) or self.tries_closing < 1:
            raise ValueError("tries and tries_closing must be at least 1")

    def limit(self, *, closing: bool) -> int | None:
        """Tries before giving up, None for no limit."""
        return self.tries_closing if closing else self.tries


class BatchWriter(Generic[T]):
    """Collects items and stores them in batches with one ``write(items)`` call per batch.

    ``write`` stores a batch (at most ``max_per_call`` items) or raises; it runs on the
    writer's own task, one call at a time. :meth:`add` returns a future completed once its
    item is stored or given up (never with an exception, so nobody has to retrieve one):
    awaiting it bounds how much is sent but not yet recorded. ``description`` names the items
    in log messages ("submit results").

    :attr:`calls` counts successful writes (transactions), :attr:`stored` the items they
    stored and :attr:`dropped` the items given up.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        clock: Clock,
        *,
        batch: int,
        delay: float,
        description: str,
        max_per_call: int = 1000,
        retry: RetryPolicy | None = None,
    ) -> None:
        if batch < 1 or max_per_call < 1:
            raise ValueError("batch and max_per_call must be at least 1")
        if delay < 0:
            raise ValueError(f"delay cannot be negative: {delay}")
        self._write = write
        self._clock = clock
        self._batch = batch
        self._delay = delay
        self._description = description
        self._max_per_call = max_per_call
        self._retry = retry or RetryPolicy()
        self._pending: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        #: Futures of the batch being written.
        self._writing: list[asyncio.Future[None]] = []
        #: Something is pending.
        self._ready = asyncio.Event()
        #: Write what is pending without waiting for ``delay``.
        self._urgent = asyncio.Event()
        self._closing = False
        self._closed = False
        self._eager = False
        self._task: asyncio.Task[None] | None = None
        self.calls = 0
        self.stored = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Items added and not yet stored (nor given up), the batch being written included."""
        return len(self._pending) + len(self._writing)

    def start(self) -> None:
        """Start writing in the background (again after :meth:`close`)."""
        if self._task is not None:
            return
        self._closing = self._closed = self._eager = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    def add(self, item: T) -> asyncio.Future[None]:
        """Queue ``item``; the future completes once it is stored or given up."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            log.error("cannot record 1 %s: the writer is closed", self._description)
            self.dropped += 1
            done.set_result(None)
            return done
        self._pending.append(item)
        self._waiters.append(done)
        self._ready.set()
        if len(self._pending) >= self._batch or self._eager:
            self._urgent.set()
        return done

    def flush_soon(self) -> None:
        """Store what is pending without waiting for a fuller batch."""
        if self._pending:
            self._urgent.set()

    def eager(self) -> None:
        """From now on, store every item at once, without waiting for a batch."""
        self._eager = True
        self.flush_soon()

    async def close(self) -> None:
        """Store everything pending (retrying as ``tries_closing`` allows), then stop."""
        self._closing = True
        self._ready.set()
        self._urgent.set()
        task, self._task = self._task, None
        # Never started: what was added is stored here all the same.
        await (task if task is not None else self._run())
        self._closed = True

    async def _run(self) -> None:
        try:
            while not (self._closing and not self._pending):
                await self._ready.wait()
                if not self._urgent.is_set():
                    await first_completed(self._urgent.wait(), self._clock.sleep(self._delay))
                count = self._max_per_call
                batch = self._pending[:count]
                self._writing = self._waiters[:count]
                del self._pending[:count]
                del self._waiters[:count]
                if len(self._pending) < self._batch and not (self._closing or self._eager):
                    self._urgent.clear()
                if not self._pending:
                    self._ready.clear()
                if batch:
                    await self._write_batch(batch)
                _complete(self._writing)
                self._writing = []
        finally:
            # Only when the task is cancelled (the event loop is closing): nobody will store
            # these, and their futures must not be left pending.
            lost = len(self._pending) + len(self._writing)
            if lost:
                log.error("cannot record %d %s: the writer stopped", lost, self._description)
                self.dropped += lost
            _complete(self._writing)
            _complete(self._waiters)
            self._writing = []
            self._pending.clear()
            self._waiters.clear()

    async def _write_batch(self, batch: Sequence[T]) -> None:
        retry = self._retry
        backoff = Backoff(retry.backoff_initial, retry.backoff_max)
        tries = 0
        pending = list(batch)

        async def write(items: Sequence[T]) -> list[None]:
            await self._write(items)
            self.calls += 1
            self.stored += len(items)
            return [None] * len(items)

        while pending:
            tries += 1
            outcomes: list[Exception | None] = [None] * len(pending)
            # A write refused for something other than the moment is written again in halves:
            # one item the database refuses does not hold back the others (commit_apart).
            await commit_apart(pending, write, outcomes.__setitem__)
            failed = [i for i, o in zip(pending, outcomes, strict=True) if o is not None]
            errors = [outcome for outcome in outcomes if outcome is not None]
            if not failed:
                return
            limit = retry.limit(closing=self._closing)
            if limit is not None and tries >= limit:
                log.error(
                    "cannot record %d %s; given up after %d tries",
                    len(failed),
                    self._description,
                    tries,
                    exc_info=errors[-1],
                )
                self.dropped += len(failed)
                return
            log.error(
                "cannot record %d %s; trying again",
                len(failed),
                self._description,
                exc_info=errors[-1],
            )
            await self._clock.sleep(backoff.next_delay())
            pending = failed


def _complete(futures: Iterable[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a waiter cancelled by its caller is done already
            future.set_result(None)
