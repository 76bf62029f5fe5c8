"""Time as a dependency.

Everything that waits or stamps (keepalives, response timeouts, TPS, backoff, validity) takes a
:class:`Clock`, so tests drive time with :class:`mesiji.testing.VirtualClock` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any, Protocol


class TimerHandle(Protocol):
    """A callback scheduled with :meth:`Clock.call_at`."""

    def cancel(self) -> None:
        """Do not run the callback (harmless once it ran)."""
        ...


class Clock(Protocol):
    """Monotonic time for intervals, wall time for stamps, and a way to wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def now(self) -> datetime:
        """The current UTC time, timezone-aware."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` on the running loop once :meth:`monotonic` reaches ``when``."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        # The loop's own clock may differ from time.monotonic() (uvloop): go by the delay.
        return asyncio.get_running_loop().call_later(max(0.0, when - time.monotonic()), callback)


async def first_completed(*waits: Awaitable[object]) -> None:
    """Wait until the first of ``waits`` is done and cancel the rest.

    With ``clock.sleep(seconds)`` among them this is a wait bounded by the injected clock,
    which ``asyncio.timeout`` (real time only) cannot be.
    """
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def finish_or_cancel(
    tasks: Collection[asyncio.Future[Any]], clock: Clock, seconds: float
) -> None:
    """Let ``tasks`` finish within ``seconds`` of ``clock``, then cancel those still running
    and wait until every one has ended; their results and exceptions are dropped.

    The shutdown of a worker pool: what is under way may complete, but not for ever.
    """
    everything = asyncio.gather(*tasks, return_exceptions=True)
    # Shielded: first_completed cancels whichever wait lost, and this gather must survive it
    # to be awaited below, once the tasks are cancelled one by one.
    await first_completed(asyncio.shield(everything), clock.sleep(seconds))
    for task in tasks:
        task.cancel()
    await everything
