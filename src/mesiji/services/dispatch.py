"""Dispatch: claim queued parts of one channel, submit them, record what the SMSC answered.

::

    claim (lease) ──▶ local queue ──▶ workers: submit_sm ──▶ results ──▶ record (in batches)

The next batch is claimed while the current one is on the wire, and results are stored in
batches of ``record_batch`` (or after ``record_delay``, or at once when nothing is left in
flight), never a transaction per part.

What becomes of a part:

- submit_sm_resp OK: recorded with the SMSC's message_id (canonical form), part in transit;
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
from datetime import UTC, datetime, timedelta

from mesiji.clock import Clock, first_completed
from mesiji.domain.statuses import PartStatus
from mesiji.errors import (
    CommandStatusError,
    ConnectionClosedError,
    MesijiError,
    PduError,
    ResponseTimeoutError,
    TextError,
    TransientStatusError,
)
from mesiji.pacing import Backoff
from mesiji.services.channels import Channel
from mesiji.settings import DispatchSettings
from mesiji.smpp.addresses import Address, destination_address, source_address
from mesiji.smpp.constants import EsmClass, RegisteredDelivery, status_name
from mesiji.smpp.pdus import SubmitSm, SubmitSmResp
from mesiji.smpp.receipts import canonical_message_id
from mesiji.smpp.submit import part_tlvs
from mesiji.storage.message_ports import MessageStore, PartToSend, StatusChange, SubmitResult
from mesiji.text import Alphabet, ConcatMethod, Part, split_text

__all__ = [
    "DispatchStats",
    "Dispatcher",
    "SubmitBuilder",
    "UnsendableError",
    "first_completed",
    "smpp_absolute_time",
]

log = logging.getLogger(__name__)

_UDHI = int(EsmClass.udhi)
_RECEIPT = int(RegisteredDelivery.receipt_always)
_ADDRESS_OCTETS = 20  # source_addr and destination_addr: C-Octet Strings of 21 (§4.4.1)
_MAX_RECORD = 1000  # results per record_submissions call at most
_MAX_SENDERS = 1024
_ALPHABETS = {alphabet.value: alphabet for alphabet in Alphabet}


def smpp_absolute_time(moment: datetime) -> str:
    """``moment`` as an SMPP absolute time "YYMMDDhhmmsstnnp" (SMPP 3.4 §7.1.1), in UTC.

    Written in UTC (nn=00, p="+") with tenths 0; a naive ``moment`` is taken as UTC.
    """
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{utc:%y%m%d%H%M%S}000+"


class UnsendableError(MesijiError):
    """A part that cannot be written as a submit_sm; ``error_code`` is recorded with it."""

    def __init__(self, error_code: str, detail: str) -> None:
        super().__init__(f"{error_code}: {detail}")
        self.error_code = error_code


class SubmitBuilder:
    """Writes a claimed part's submit_sm with a channel's text policy.

    The part's segment is cut again from the message body exactly as at accept time, so its
    UDH (or sar_* TLVs) carry the message's reference and the part's number. The split of the
    last message is kept, since its parts are usually claimed together.
    """

    def __init__(self, concat: ConcatMethod, *, allow_latin1: bool) -> None:
        self.concat = concat
        self.allow_latin1 = allow_latin1
        self._max_reference = 0xFF if concat is ConcatMethod.udh8 else 0xFFFF
        self._last: tuple[int, str, str, int] | None = None
        self._pieces: list[Part] = []
        # Senders are few: each is checked once (bounded, should an install have very many).
        self._senders: dict[str, Address] = {}

    def build(self, part: PartToSend, now: datetime) -> SubmitSm:
        """The submit_sm of ``part``, asking for a receipt; raises :class:`UnsendableError`."""
        validity = ""
        if part.valid_until is not None:
            if part.valid_until <= now:
                raise UnsendableError("VALIDITY_EXPIRED", f"valid until {part.valid_until}")
            validity = smpp_absolute_time(part.valid_until)
        piece = self._piece(part)
        source = self._senders.get(part.sender)
        if source is None:
            source = _checked(source_address(part.sender), "ESME_RINVSRCADR")
            if len(self._senders) >= _MAX_SENDERS:
                self._senders.clear()
            self._senders[part.sender] = source
        dest = _checked(destination_address(part.destination), "ESME_RINVDSTADR")
        return SubmitSm(
            source_addr_ton=source.ton,
            source_addr_npi=source.npi,
            source_addr=source.addr,
            dest_addr_ton=dest.ton,
            dest_addr_npi=dest.npi,
            destination_addr=dest.addr,
            esm_class=_UDHI if piece.udhi else 0,
            validity_period=validity,
            registered_delivery=_RECEIPT,
            data_coding=piece.data_coding,
            short_message=piece.short_message,
            tlvs=part_tlvs(piece),
        )

    def _piece(self, part: PartToSend) -> Part:
        # The reference is masked to the method's field: udh8 carries 8 bits (3GPP TS 23.040
        # §9.2.3.24.1), udh16 and sar_msg_ref_num 16 (§9.2.3.24.8, SMPP 3.4 §5.3.2.22).
        reference = part.concat_reference & self._max_reference
        key = (part.message_id, part.body, part.alphabet, reference)
        if key != self._last:
            self._last = None
            alphabet = _ALPHABETS.get(part.alphabet)
            if alphabet is None:
                raise UnsendableError("TEXT_NOT_ENCODABLE", f"alphabet {part.alphabet!r}")
            if alphabet is Alphabet.latin1 and not self.allow_latin1:
                raise UnsendableError("LATIN1_NOT_ALLOWED", "the channel does not send Latin-1")
            try:
                self._pieces = split_text(
                    part.body, alphabet=alphabet, method=self.concat, reference=reference
                )
            except TextError as exc:
                raise UnsendableError("TEXT_NOT_ENCODABLE", str(exc)) from exc
            self._last = key
        if len(self._pieces) != part.total or not 1 <= part.seqnum <= part.total:
            raise UnsendableError(
                "SEGMENTS_MISMATCH",
                f"part {part.seqnum}/{part.total} of a text cut into {len(self._pieces)}",
            )
        return self._pieces[part.seqnum - 1]


def _checked(address: Address, error_code: str) -> Address:
    try:
        fits = len(address.addr.encode("latin-1")) <= _ADDRESS_OCTETS
    except UnicodeEncodeError:
        fits = False
    if not fits:
        raise UnsendableError(error_code, f"address {address.addr!r} cannot be sent")
    return address


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


class _Recorder:
    """Collects submit results and stores them with one record_submissions call per batch."""

    def __init__(
        self,
        store: MessageStore,
        clock: Clock,
        stats: DispatchStats,
        *,
        batch: int,
        delay: float,
        on_changes: Callable[[Sequence[StatusChange]], None] | None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._stats = stats
        self._batch = batch
        self._delay = delay
        self._on_changes = on_changes
        self._pending: list[SubmitResult] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._ready = asyncio.Event()
        self._urgent = asyncio.Event()
        self._closing = False
        #: Store each result at once (at shutdown nothing is worth waiting for).
        self._eager = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def add(self, result: SubmitResult) -> asyncio.Future[None]:
        """Queue ``result``; the future completes once it is stored (or given up)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(result)
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
        """From now on, store every result without waiting for a batch."""
        self._eager = True
        self.flush_soon()

    async def _run(self) -> None:
        while not (self._closing and not self._pending):
            await self._ready.wait()
            if not self._urgent.is_set():
                await first_completed(self._urgent.wait(), self._clock.sleep(self._delay))
            batch = self._pending[:_MAX_RECORD]
            waiters = self._waiters[:_MAX_RECORD]
            del self._pending[:_MAX_RECORD]
            del self._waiters[:_MAX_RECORD]
            if len(self._pending) < self._batch and not self._closing:
                self._urgent.clear()
            if not self._pending:
                self._ready.clear()
            if batch:
                await self._record(batch)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _record(self, batch: list[SubmitResult]) -> None:
        backoff = Backoff(0.05, 5.0)
        while True:
            try:
                changes = await self._store.record_submissions(batch, self._clock.now())
            except Exception:
                log.exception("cannot record %d submit results; trying again", len(batch))
                # At shutdown the results are given up after a few tries: those parts come
                # back with their lease and are submitted again (duplicates for OK ones).
                if self._closing and backoff.attempt >= 3:
                    log.error("gave up recording %d submit results", len(batch))
                    return
                await self._clock.sleep(backoff.next_delay())
                continue
            self._stats.record_calls += 1
            self._stats.recorded += len(batch)
            if changes and self._on_changes is not None:
                try:
                    self._on_changes(changes)
                except Exception:
                    log.exception("on_changes failed")
            return

    async def close(self) -> None:
        """Store everything pending, then stop."""
        self._closing = True
        self._ready.set()
        self._urgent.set()
        if self._task is not None:
            await self._task


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
        self._recorder = _Recorder(
            store,
            clock,
            self.stats,
            batch=record_batch,
            delay=record_delay,
            on_changes=on_changes,
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

    @property
    def in_flight(self) -> int:
        """Submits sent and not answered yet."""
        return self._inflight

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
        workers = asyncio.gather(*self._workers, return_exceptions=True)
        await first_completed(asyncio.shield(workers), self._clock.sleep(self._stop_timeout))
        for task in self._workers:
            task.cancel()
        await workers
        await self._recorder.close()

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
                recorded = self._recorder.add(SubmitResult(part_id, smsc_message_id=smsc_id))
            else:
                self.stats.unknown += 1
                log.error("%s: part %d answered with %r", name, part_id, response)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._recorder.flush_soon()
        if recorded is not None:
            await recorded
