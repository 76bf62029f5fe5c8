"""Dispatch: claim queued parts of one channel, submit them, record what the SMSC answered.

::

    claim (lease) ──▶ local queue ──▶ workers: submit_sm ──▶ results ──▶ record (in batches)

The next batch is claimed while the current one is on the wire, and results are stored in
batches of ``record_batch`` (or after ``record_delay``, or at once when nothing is left in
flight), never a transaction per part (:mod:`mesiji.services.batching`). The submit_sm
itself is written by :mod:`mesiji.services.submit_builder`.

What becomes of a part:

- submit_sm_resp OK: recorded with the SMSC's message_id (canonical form), part in transit;
- submit_sm_resp OK with an empty message_id: the SMSC took the part, but no receipt can ever
  be matched to it; logged and recorded as unknown (NO_MESSAGE_ID) at once, paid for;
- an error submit_sm_resp: recorded as rejected with the status name ("ESME_RINVDSTADR");
- a part that cannot be written (text, addresses, validity over): recorded as failed;
- still throttled after the client's retries (ESME_RTHROTTLED, ESME_RMSGQFUL): the SMSC took
  nothing, so the part is left claimed and its lease returns it to the queue;
- the link dropped or no response came: the SMSC may or may not have taken it. The part is
  left claimed and its lease brings it back to be submitted again. This is the only way a
  part can reach a handset twice, and it is bounded by the channel's window x binds.

A part is never sent when its lease is about to run out (another gateway may claim it then),
and one whose submit_sm_resp was recorded is never claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mesiji.clock import Clock, finish_or_cancel, first_completed
from mesiji.domain.statuses import PartStatus
from mesiji.errors import (
    CommandStatusError,
    ConnectionClosedError,
    PduError,
    ResponseTimeoutError,
    TransientStatusError,
)
from mesiji.pacing import Backoff
from mesiji.services.batching import BatchWriter, RetryPolicy
from mesiji.services.channels import Channel
from mesiji.services.submit_builder import SubmitBuilder, UnsendableError
from mesiji.settings import DispatchSettings
from mesiji.smpp.constants import status_name
from mesiji.smpp.pdus import SubmitSm, SubmitSmResp
from mesiji.smpp.receipts import canonical_message_id
from mesiji.storage.message_ports import MessageStore, PartToSend, StatusChange, SubmitResult

__all__ = ["NO_MESSAGE_ID", "DispatchStats", "Dispatcher"]

log = logging.getLogger(__name__)

#: The error code of a part the SMSC accepted with an empty message_id.
NO_MESSAGE_ID = "NO_MESSAGE_ID"

# Results are tried until stored: a result given up is a part left claimed, which comes back
# with its lease and is submitted again (a duplicate when the SMSC had taken it, see
# docs/reliability.md). Only at shutdown are they given up, at the 4th failed try.
_RECORD_RETRY = RetryPolicy(tries=None, tries_closing=4, backoff_initial=0.05, backoff_max=5.0)


@dataclass(slots=True)
class DispatchStats:
    """What one dispatcher did since it started."""

    claimed: int = 0
    #: submit_sm_resp OK.
    submitted: int = 0
    rejected: int = 0
    failed: int = 0
    #: Left claimed: still throttled after the client's retries.
    deferred: int = 0
    #: Left claimed: the link dropped or no response came; the outcome is unknown.
    unknown: int = 0
    #: Not sent because their lease was about to run out.
    lapsed: int = 0
    #: record_submissions calls, and results they stored.
    record_calls: int = 0
    recorded: int = 0
    #: submit_sm_resp OK with an empty message_id (counted in ``submitted`` too).
    no_message_id: int = 0


@dataclass(frozen=True, slots=True)
class _Item:
    part: PartToSend
    pdu: SubmitSm
    #: Monotonic time after which the part must not be sent: its lease is nearly over.
    send_by: float


class Dispatcher:
    """Submits the queued parts of one channel.

    ``owner`` names this dispatcher in the leases it takes (unique per process and channel).
    ``poll_interval`` is how often, in seconds of ``clock``, the queue is looked at when
    nobody called :meth:`notify` (parts accepted by other gateways are found that way).
    ``on_changes`` hears the message status changes of each recorded batch.
    """

    def __init__(
        self,
        store: MessageStore,
        channel: Channel,
        settings: DispatchSettings,
        *,
        clock: Clock,
        owner: str,
        poll_interval: float = 1.0,
        record_batch: int = 200,
        record_delay: float = 0.02,
        stop_timeout: float = 10.0,
        on_changes: Callable[[Sequence[StatusChange]], None] | None = None,
    ) -> None:
        if settings.batch_size < 1 or settings.lease_seconds <= 0:
            raise ValueError("batch_size and lease_seconds must be positive")
        self._store = store
        self._channel = channel
        self._clock = clock
        self._owner = owner
        self._lease = settings.lease_seconds
        self._poll_interval = poll_interval
        self._stop_timeout = stop_timeout
        self._builder = SubmitBuilder(channel.concat, allow_latin1=channel.allow_latin1)
        client = channel.client.settings
        # A part is sent only while its response can still come back within its lease.
        self._margin = min(client.link.response_timeout, settings.lease_seconds / 2)
        # With a TPS cap, claim no more than the channel sends in a quarter of a lease, so
        # claimed parts do not wait in memory until their lease runs out.
        limit = settings.batch_size
        if client.tps:
            limit = max(1, min(limit, int(client.tps * settings.lease_seconds / 4)))
        self._limit = limit
        self.stats = DispatchStats()
        self._on_changes = on_changes
        # Group commit: one record_submissions transaction for many results.
        self._recorder = BatchWriter[SubmitResult](
            self._record,
            clock,
            batch=record_batch,
            delay=record_delay,
            description="submit results",
            retry=_RECORD_RETRY,
        )
        self._queue: deque[_Item] = deque()
        self._queued = asyncio.Event()
        self._room = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._inflight = 0
        self._claimer: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []

    @property
    def channel(self) -> Channel:
        return self._channel

    def start(self) -> None:
        """Start claiming and submitting in the background."""
        if self._claimer is not None:
            return
        loop = asyncio.get_running_loop()
        self._recorder.start()
        # One worker per window slot, and a worker takes its next part only once the result
        # of its last one is stored: the parts sent but not yet recorded (the ones a crash
        # would send twice) never exceed the channel's window x binds (docs/reliability.md).
        self._workers = [
            loop.create_task(self._work()) for _ in range(max(1, self._channel.capacity))
        ]
        self._claimer = loop.create_task(self._claim_loop())

    def notify(self) -> None:
        """Work has arrived for this channel: look at the queue now."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, let the submits in flight finish (bounded), record their results.

        Claimed parts not yet sent are left to their lease. Submits still unanswered after
        ``stop_timeout`` are abandoned with an unknown outcome, like a dropped link.
        """
        if self._claimer is None or self._stopped.is_set():
            return
        self._stopped.set()
        for event in (self._wake, self._room, self._queued):
            event.set()
        self._claimer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._claimer
        self._queue.clear()
        self._recorder.eager()
        await finish_or_cancel(self._workers, self._clock, self._stop_timeout)
        await self._recorder.close()

    async def _record(self, results: Sequence[SubmitResult]) -> None:
        """Store ``results`` in one transaction (the recorder's write; raises to be retried)."""
        changes = await self._store.record_submissions(results, self._clock.now())
        self.stats.record_calls += 1
        self.stats.recorded += len(results)
        if changes and self._on_changes is not None:
            # Stored already: a failing listener must not make the batch be written again.
            try:
                self._on_changes(changes)
            except Exception:
                log.exception("on_changes failed")

    # --- claiming ----------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = Backoff(0.1, 10.0)
        channel = self._channel
        while True:
            if len(self._queue) >= self._limit:
                self._room.clear()
                await self._room.wait()
                continue
            if not channel.can_submit:
                await first_completed(channel.wait_can_submit(), self._stopped.wait())
                continue
            self._wake.clear()
            now = self._clock.now()
            send_by = self._clock.monotonic() + self._lease - self._margin
            try:
                parts = await self._store.claim_parts(
                    channel.name,
                    limit=self._limit,
                    owner=self._owner,
                    now=now,
                    lease_until=now + timedelta(seconds=self._lease),
                )
            except Exception:
                log.exception("%s: cannot claim parts", channel.name)
                await self._clock.sleep(backoff.next_delay())
                continue
            backoff.reset()
            if parts:
                try:
                    self._enqueue(parts, now, send_by)
                except Exception:
                    log.exception(
                        "%s: cannot queue claimed parts; their lease returns them", channel.name
                    )
            if len(parts) < self._limit:
                await first_completed(self._wake.wait(), self._clock.sleep(self._poll_interval))

    def _enqueue(self, parts: list[PartToSend], now: datetime, send_by: float) -> None:
        self.stats.claimed += len(parts)
        build = self._builder.build
        for part in parts:
            try:
                pdu = build(part, now)
            except UnsendableError as exc:
                log.warning("%s: part %d not sent: %s", self._channel.name, part.part_id, exc)
                self.stats.failed += 1
                self._recorder.add(
                    SubmitResult(part.part_id, status=PartStatus.FAILED, error_code=exc.error_code)
                )
                continue
            self._queue.append(_Item(part, pdu, send_by))
        self._queued.set()
        if not self._inflight:
            self._recorder.flush_soon()

    # --- submitting --------------------------------------------------------------------

    async def _work(self) -> None:
        queue = self._queue
        channel = self._channel
        while not self._stopped.is_set():
            if not queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            if not channel.can_submit:
                await first_completed(channel.wait_can_submit(), self._stopped.wait())
                continue
            item = queue.popleft()
            if len(queue) < self._limit:
                self._room.set()
            await self._send(item)

    async def _send(self, item: _Item) -> None:
        if self._clock.monotonic() >= item.send_by:
            self.stats.lapsed += 1
            return
        part_id = item.part.part_id
        name = self._channel.name
        recorded: asyncio.Future[None] | None = None
        self._inflight += 1
        try:
            response = await self._channel.submit(item.pdu)
        except TransientStatusError as exc:
            self.stats.deferred += 1
            log.info("%s: part %d left to its lease: %s", name, part_id, exc)
        except CommandStatusError as exc:
            self.stats.rejected += 1
            error = status_name(exc.command_status)
            recorded = self._recorder.add(
                SubmitResult(part_id, status=PartStatus.REJECTED, error_code=error)
            )
        except PduError as exc:
            # Refused by our own encoder before anything was written.
            self.stats.failed += 1
            error = status_name(exc.command_status)
            recorded = self._recorder.add(
                SubmitResult(part_id, status=PartStatus.FAILED, error_code=error)
            )
        except (ConnectionClosedError, ResponseTimeoutError) as exc:
            self.stats.unknown += 1
            log.info("%s: part %d outcome unknown, left to its lease: %s", name, part_id, exc)
        except Exception:
            self.stats.unknown += 1
            log.exception("%s: part %d outcome unknown, left to its lease", name, part_id)
        else:
            if isinstance(response, SubmitSmResp):
                self.stats.submitted += 1
                smsc_id = canonical_message_id(response.message_id)
                if smsc_id:
                    result = SubmitResult(part_id, smsc_message_id=smsc_id)
                else:
                    # SMPP 3.4 §4.4.2 gives every accepted message an id; without one no
                    # receipt can find the part, so waiting for one would only delay this.
                    self.stats.no_message_id += 1
                    log.warning(
                        "%s: part %d accepted with an empty message_id %r: it ends unknown",
                        name,
                        part_id,
                        response.message_id,
                    )
                    result = SubmitResult(
                        part_id, status=PartStatus.UNKNOWN, error_code=NO_MESSAGE_ID
                    )
                recorded = self._recorder.add(result)
            else:
                self.stats.unknown += 1
                log.error("%s: part %d answered with %r", name, part_id, response)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._recorder.flush_soon()
        if recorded is not None:
            await recorded
