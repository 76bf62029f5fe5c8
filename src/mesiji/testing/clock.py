"""A clock whose time moves only when a test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """Implements :class:`mesiji.clock.Clock`; :meth:`advance` moves time and wakes sleepers.

    ``await clock.advance(30)`` runs every sleeper whose deadline falls within the next 30
    seconds, in deadline order, letting the event loop run between them, so timeouts and
    keepalives behave as they would in real time without the test waiting for them.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now)

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._counter), future))
        await future

    def call_at(self, when: float, callback: Callable[[], None]) -> _Timer:
        """Run ``callback`` when :meth:`advance` reaches ``when`` (unless cancelled)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def fire(done: asyncio.Future[None]) -> None:
            if not done.cancelled():
                callback()

        future.add_done_callback(fire)
        heapq.heappush(self._sleepers, (max(self._now, when), next(self._counter), future))
        return _Timer(future)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers on the way."""
        target = self._now + seconds
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            await _settle()
        self._now = target
        await _settle()


class _Timer:
    """What :meth:`VirtualClock.call_at` returns (a :class:`mesiji.clock.TimerHandle`)."""

    def __init__(self, future: asyncio.Future[None]) -> None:
        self._future = future

    def cancel(self) -> None:
        self._future.cancel()


async def _settle(rounds: int = 20) -> None:
    # Let callbacks, woken tasks and the tasks they wake run before time moves on.
    for _ in range(rounds):
        await asyncio.sleep(0)
