"""Deadlines: one time bound for many concurrent attempts, on an injected clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Any

from mesiji.clock import Clock

__all__ = ["Deadline", "Deadlines"]


@dataclass(slots=True)
class Deadline:
    """One attempt's bound: when it ends, and what became of it."""

    #: On the clock's monotonic time.
    at: float
    task: asyncio.Task[Any]
    #: ``task.cancelling()`` when armed: cancellations that were not ours.
    cancelling: int
    finished: bool = False
    expired: bool = False


class Deadlines:
    """Bounds every attempt by ``seconds`` of ``clock``, with one watcher task for them all.

    What ``asyncio.timeout`` does, but on the injected clock (tests move time rather than wait
    for it) and cheaper: every attempt has the same bound, so deadlines come in the order the
    attempts start and the watcher only looks at the oldest one still running. That is about
    one wake-up per ``seconds``, where ``asyncio.timeout`` schedules and cancels a timer per
    attempt. An expired attempt's task is cancelled; :meth:`timed_out` tells that cancellation
    from any other.
    """

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds
        self._entries: deque[Deadline] = deque()
        self._armed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the watcher (in a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the watcher; deadlines not yet expired never will."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._entries.clear()

    def arm(self) -> Deadline:
        """A deadline for the current task; set its ``finished`` when the bounded work ends."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("deadlines bound tasks")
        entries = self._entries
        # Drop the finished ones at the front, so the queue holds little more than the attempts
        # under way (finished ones behind a running one wait for the watcher).
        while entries and entries[0].finished:
            entries.popleft()
        deadline = Deadline(self._clock.monotonic() + self._seconds, task, task.cancelling())
        entries.append(deadline)
        self._armed.set()
        return deadline

    def timed_out(self, deadline: Deadline) -> bool:
        """After a CancelledError in the bounded work: True when it was this deadline's doing
        and nothing else cancelled the task (then the error is to be swallowed)."""
        return deadline.expired and deadline.task.uncancel() <= deadline.cancelling

    async def _run(self) -> None:
        entries = self._entries
        while True:
            while entries and entries[0].finished:
                entries.popleft()
            if not entries:
                self._armed.clear()
                await self._armed.wait()
                continue
            head = entries[0]
            delay = head.at - self._clock.monotonic()
            if delay > 0:
                await self._clock.sleep(delay)
                continue
            entries.popleft()
            head.expired = True
            head.task.cancel()
