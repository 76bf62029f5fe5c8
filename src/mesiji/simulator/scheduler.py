"""Timed callbacks from one task: a heap of deadlines on an injected clock.

Tens of thousands of receipts may be waiting for their delay at once. One sleeping task each
would cost a task, a coroutine and a timer per receipt; a heap costs one tuple. The clock is a
:class:`mesiji.clock.Clock`, so under :class:`mesiji.testing.VirtualClock` nothing waits in real
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

from mesiji.clock import Clock

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Scheduler:
    """Calls ``callback(arg)`` at given times of ``clock``, in deadline order.

    Callbacks run in the scheduler's task and must not block. Deadlines closer together than
    ``resolution`` seconds are served in one wake-up, so a steady stream of receipts wakes the
    task at most once per ``resolution`` rather than once per receipt.
    """

    def __init__(self, clock: Clock, *, resolution: float = 0.001) -> None:
        self._clock = clock
        self._resolution = resolution
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._counter = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        # The deadline the task sleeps until; an earlier new entry must wake it.
        self._sleeping_until = -math.inf

    def __len__(self) -> int:
        """Callbacks waiting for their time."""
        return len(self._heap)

    def start(self) -> None:
        """Start the task (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="mesiji-simulator-scheduler"
            )

    def call_at(self, when: float, callback: Callable[[T], None], arg: T) -> None:
        """Call ``callback(arg)`` once ``clock.monotonic()`` reaches ``when``."""
        heapq.heappush(self._heap, (when, next(self._counter), callback, arg))
        if when < self._sleeping_until and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def call_later(self, delay: float, callback: Callable[[T], None], arg: T) -> None:
        """Call ``callback(arg)`` ``delay`` seconds from now."""
        self.call_at(self._clock.monotonic() + delay, callback, arg)

    async def close(self) -> None:
        """Stop the task; callbacks not yet called are dropped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._heap.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        heap = self._heap
        clock = self._clock
        while True:
            now = clock.monotonic()
            while heap and heap[0][0] <= now:
                _, _, callback, arg = heapq.heappop(heap)
                try:
                    callback(arg)
                except Exception:  # one bad callback must not stop every later one
                    log.exception("scheduled callback %r failed", callback)
            wake = self._wake = loop.create_future()
            if not heap:
                self._sleeping_until = math.inf
                await wake
            else:
                self._sleeping_until = heap[0][0]
                delay = max(self._resolution, heap[0][0] - now)
                sleeper = loop.create_task(clock.sleep(delay))
                try:
                    await asyncio.wait((sleeper, wake), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
            self._sleeping_until = -math.inf
