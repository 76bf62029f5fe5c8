"""Receipts that never come: parts still in transit after a configured wait end ``unknown``.

An SMSC that loses a receipt, or never sends one, would otherwise leave the part (and its
message, and the client waiting for a callback) in transit for ever. A periodic sweep on the
injected clock gives up every part submitted more than ``dispatch.receipt_wait_seconds`` ago
whose message's validity is over, in batches; the storage moves them to ``unknown`` and the
message status, its history and its callback follow as for any final status. A receipt that
still comes later corrects the guess (see :mod:`mesiji.domain.statuses`).

Every gateway process sweeps; on PostgreSQL they skip the parts another one holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from mesiji.clock import Clock
from mesiji.pacing import Backoff
from mesiji.storage.message_ports import ReceiptWaitStore, StatusChange

__all__ = ["ReceiptWait"]

log = logging.getLogger(__name__)

#: The longest pause between sweeps: a part is given up at most this late.
MAX_INTERVAL = 60.0


class ReceiptWait:
    """Gives up the parts whose receipt did not come within ``wait`` seconds.

    ``wait`` of 0 turns the sweep off. It runs every ``wait / 4`` seconds of ``clock``, and
    at least every :data:`MAX_INTERVAL`; each transaction gives up at most ``batch`` parts.
    ``on_changes`` hears the message status changes (to wake the notifier).
    """

    def __init__(
        self,
        store: ReceiptWaitStore,
        *,
        wait: float,
        clock: Clock,
        batch: int = 500,
        on_changes: Callable[[Sequence[StatusChange]], None] | None = None,
    ) -> None:
        if wait < 0 or batch < 1:
            raise ValueError("wait must not be negative, batch must be at least 1")
        self._store = store
        self._wait = timedelta(seconds=wait)
        self._interval = min(MAX_INTERVAL, wait / 4)
        self._clock = clock
        self._batch = batch
        self._on_changes = on_changes
        self._task: asyncio.Task[None] | None = None
        #: Parts given up since the start.
        self.given_up = 0

    @property
    def enabled(self) -> bool:
        return self._wait > timedelta(0)

    def start(self) -> None:
        """Start sweeping in the background (nothing when the wait is 0)."""
        if self._task is None and self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sweeping; a sweep under way is cancelled (its transaction rolls back)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def sweep(self) -> int:
        """Give up every part that waited too long, batch after batch; how many."""
        total = 0
        while True:
            now = self._clock.now()
            result = await self._store.give_up_waiting(now - self._wait, now, self._batch)
            total += result.parts
            self.given_up += result.parts
            if result.changes and self._on_changes is not None:
                try:
                    self._on_changes(result.changes)
                except Exception:
                    log.exception("on_changes failed")
            if result.parts < self._batch:
                break
        if total:
            log.warning(
                "%d part(s) had no receipt %s after their submit: they end unknown",
                total,
                self._wait,
            )
        return total

    async def _run(self) -> None:
        backoff = Backoff(1.0, MAX_INTERVAL)
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("cannot give up parts without a receipt")
                await self._clock.sleep(backoff.next_delay())
                continue
            backoff.reset()
            await self._clock.sleep(self._interval)
