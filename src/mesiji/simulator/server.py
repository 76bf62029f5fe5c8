"""The SMSC simulator: an asyncio server whose every connection is an SMPP 3.4 SMSC session."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from mesiji.clock import Clock, SystemClock
from mesiji.errors import ConfigError, SmppError
from mesiji.simulator.link import EsmeLink
from mesiji.simulator.mo import mo_pdus
from mesiji.simulator.outbox import Delivery, Dispatcher
from mesiji.simulator.outcomes import OutcomePicker, receipt_pdu, wants_receipt
from mesiji.simulator.scheduler import Scheduler
from mesiji.simulator.settings import Outcome, SimulatorSettings
from mesiji.simulator.stats import Counters, SimulatorStats, SubmitPdu, SubmittedMessage
from mesiji.simulator.submit_log import SubmitLog
from mesiji.smpp.connection import HandlerResult, SmppConnection
from mesiji.smpp.fields import SmeAddress
from mesiji.smpp.pdus import DeliverSm, Pdu, SubmitMulti
from mesiji.text import ConcatMethod

__all__ = ["SmscSimulator"]

Address = tuple[int, int, str]


@dataclass(slots=True)
class _ReceiptJob:
    system_id: str
    request: SubmitPdu
    message_id: str
    destination: Address
    outcome: Outcome
    submit_date: datetime


class SmscSimulator:
    """A simulated SMSC speaking SMPP 3.4 on a TCP port.

    ::

        async with SmscSimulator(SimulatorSettings(port=0), clock=clock) as sim:
            ...  # connect ESMEs to ("127.0.0.1", sim.port)

    It accepts binds of all three kinds, answers submit_sm, data_sm and submit_multi with a
    fresh message_id, and sends the delivery receipts they ask for (SMPP 3.4 §4.6.1,
    Appendix B) after ``receipt_delay``, with the outcomes drawn from ``settings.outcomes``.
    Everything that waits runs on ``clock``, so tests drive it with a VirtualClock.
    """

    def __init__(self, settings: SimulatorSettings | None = None, *, clock: Clock | None = None):
        self.settings = settings = settings or SimulatorSettings()
        self._clock = clock or SystemClock()
        self._counters = Counters()
        self._scheduler = Scheduler(self._clock)
        self._dispatcher = Dispatcher(
            scheduler=self._scheduler,
            counters=self._counters,
            window=settings.window,
            redelivery_delay=settings.redelivery_delay,
            max_attempts=settings.max_delivery_attempts,
        )
        self._picker = OutcomePicker(settings.outcomes, settings.seed)
        # Ids must not repeat across restarts, when a gateway may still hold the old ones:
        # counting from a random 40-56 bit base makes an overlap practically impossible.
        base = settings.message_id_base
        self._next_id = base if base is not None else random.SystemRandom().randrange(2**40, 2**56)
        self._mo_reference = random.Random(settings.seed).randrange(0x10000)
        #: The most recent accepted submits, oldest first (``settings.keep_submitted``).
        self.submitted: deque[SubmittedMessage] = deque(maxlen=settings.keep_submitted)
        self._links: set[EsmeLink] = set()
        self._bound: set[EsmeLink] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._log: SubmitLog | None = None
        self._port: int | None = None
        self._connections = 0
        self._started = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> SmscSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self, *, listen: bool = True) -> None:
        """Start the receipt scheduler and listen on ``settings.host``:``settings.port``.

        With ``listen=False`` no socket is opened: ESMEs reach the simulator only through
        :meth:`new_connection` (a memory pair in tests).
        """
        if self._started:
            raise ConfigError("the simulator is already started")
        self._started = True
        loop = asyncio.get_running_loop()
        if self.settings.submit_log is not None:
            self._log = SubmitLog(self.settings.submit_log)
        self._scheduler.start()
        if not listen:
            return
        try:
            self._server = await loop.create_server(
                self._make_connection, self.settings.host, self.settings.port
            )
        except BaseException:
            self._started = False
            await self._scheduler.close()
            if self._log is not None:
                self._log.close()
            raise
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Unbind every ESME politely (SMPP 3.4 §4.2), then stop.

        ESMEs get ``response_timeout`` seconds of real time to answer the unbind, whatever
        the clock, so a test with a stopped VirtualClock cannot hang here.
        """
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        links = list(self._links)
        if links:
            unbinds = [asyncio.create_task(link.conn.unbind()) for link in links]
            await asyncio.wait(unbinds, timeout=self.settings.response_timeout)
            for link in links:
                link.conn.close("simulator closed")
            await asyncio.gather(*unbinds, return_exceptions=True)
        await self._dispatcher.close()
        await self._scheduler.close()
        if self._watchers:
            await asyncio.gather(*self._watchers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._log is not None:
            self._log.close()

    @property
    def port(self) -> int:
        """The TCP port listened on (the ephemeral one when ``settings.port`` is 0)."""
        if self._port is None:
            raise ConfigError("the simulator is not started")
        return self._port

    @property
    def stats(self) -> SimulatorStats:
        """A snapshot of the counters."""
        return self._counters.snapshot()

    # --- connections -------------------------------------------------------------------

    def new_connection(self) -> SmppConnection:
        """A new SMSC-side connection for any transport (a memory pair in tests); call it
        after :meth:`start`, whose scheduler sends the receipts."""
        return self._make_connection()

    def _make_connection(self) -> SmppConnection:
        self._connections += 1
        link = EsmeLink(
            self, self.settings, self._counters, self._clock, name=f"smsc-sim#{self._connections}"
        )
        self._links.add(link)
        watcher = asyncio.get_running_loop().create_task(self._watch(link))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return link.conn

    async def _watch(self, link: EsmeLink) -> None:
        await link.conn.closed.wait()
        self._links.discard(link)
        if link in self._bound:
            self._bound.discard(link)
            self._counters.binds_active -= 1
            if link.can_receive and link.system_id is not None:
                self._dispatcher.remove_receiver(link.system_id, link)

    def bound(self, link: EsmeLink) -> None:
        """Called by a link once its bind_resp is written."""
        if link.conn.is_closed or link.system_id is None or self._closed:
            return
        self._bound.add(link)
        self._counters.binds_total += 1
        self._counters.binds_active += 1
        if link.can_receive:
            self._dispatcher.add_receiver(link.system_id, link)

    # --- submits and receipts ----------------------------------------------------------

    def accept(self, link: EsmeLink, request: SubmitPdu) -> HandlerResult:
        """Accept a message: give it an id, draw its fate, schedule its receipts."""
        counters = self._counters
        now = self._clock.monotonic()
        message_id = f"{self._next_id:X}"
        self._next_id += 1
        counters.accepted += 1
        if counters.first_submit is None:
            counters.first_submit = now
        counters.last_submit = now
        destinations: tuple[Address, ...]
        if isinstance(request, SubmitMulti):
            # Distribution lists (§4.5.1.2) are not expanded: the simulator knows none.
            destinations = tuple(
                (d.dest_addr_ton, d.dest_addr_npi, d.destination_addr)
                for d in request.dest_address
                if isinstance(d, SmeAddress)
            )
            outcomes = tuple(self._picker.pick() for _ in destinations)
        else:
            destinations = (
                (request.dest_addr_ton, request.dest_addr_npi, request.destination_addr),
            )
            outcomes = (self._picker.pick(),)
        for outcome in outcomes:
            counters.outcomes[outcome] += 1
        system_id = link.system_id or ""
        record = SubmittedMessage(message_id, system_id, request, now, outcomes)
        self.submitted.append(record)
        if self._log is not None:
            self._log.write(record, self._clock.now())
        response = request.response(message_id=message_id)
        registered_delivery = request.registered_delivery
        if not registered_delivery & 0x03:
            return response
        sent: list[asyncio.Future[None]] = []
        submit_date = self._clock.now()
        for destination, outcome in zip(destinations, outcomes, strict=True):
            if not wants_receipt(registered_delivery, outcome):
                continue
            counters.receipts_created += 1
            job = _ReceiptJob(system_id, request, message_id, destination, outcome, submit_date)
            if self.settings.receipt_before_response:
                delivery = self._receipt_delivery(job)
                delivery.sent = asyncio.get_running_loop().create_future()
                if self._dispatcher.send_now(delivery):
                    sent.append(delivery.sent)
            else:
                self._scheduler.call_later(self.settings.receipt_delay, self._receipt_due, job)
        if sent:
            return _after(sent, response)
        return response

    def _receipt_due(self, job: _ReceiptJob) -> None:
        self._dispatcher.queue(self._receipt_delivery(job))

    def _receipt_delivery(self, job: _ReceiptJob) -> Delivery:
        pdu = receipt_pdu(
            message_id=job.message_id,
            outcome=job.outcome,
            request=job.request,
            destination=job.destination,
            submit_date=job.submit_date,
            done_date=self._clock.now(),
        )
        return Delivery(job.system_id, pdu, is_receipt=True)

    # --- mobile-originated ---------------------------------------------------------------

    async def send_mo(
        self,
        system_id: str,
        source_addr: str,
        destination_addr: str,
        text: str,
        *,
        data_coding: int | None = None,
        concat: ConcatMethod | str = ConcatMethod.udh8,
    ) -> list[DeliverSm]:
        """Deliver an MO message to the ESMEs bound as ``system_id``; return its PDUs.

        A long text goes in several deliver_sm (see :func:`mesiji.simulator.mo.mo_pdus`).
        Returns once the ESME has acknowledged every part, waiting for a receiving bind if
        none is there; raises :class:`SmppError` if a part was given up after
        ``max_delivery_attempts``, and TextError if the text cannot be written.
        """
        if self._closed:
            raise SmppError("the simulator is closed")
        self._mo_reference = (self._mo_reference + 1) & 0xFFFF
        reference = self._mo_reference & (0xFF if concat == ConcatMethod.udh8 else 0xFFFF)
        pdus = mo_pdus(
            source_addr,
            destination_addr,
            text,
            data_coding=data_coding,
            concat=concat,
            reference=reference,
        )
        loop = asyncio.get_running_loop()
        done: list[asyncio.Future[bool]] = []
        for pdu in pdus:
            acknowledged: asyncio.Future[bool] = loop.create_future()
            done.append(acknowledged)
            self._dispatcher.queue(Delivery(system_id, pdu, is_receipt=False, done=acknowledged))
        if not all(await asyncio.gather(*done)):
            raise SmppError(f"MO message to {system_id!r} not acknowledged: given up")
        return pdus


async def _after(sent: list[asyncio.Future[None]], response: Pdu) -> Pdu:
    # receipt_before_response: answer only once every receipt is on its way.
    for future in sent:
        await future
    return response
