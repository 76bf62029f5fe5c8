"""The asyncio ESME client: binds to an SMSC, keeps the binds alive, submits, takes deliveries.

::

    async with SmppClient(settings, on_deliver=store_receipt) as client:
        response = await client.submit(SubmitSm(...))   # SubmitSmResp with message_id

What it takes care of:

- binds as one transceiver, or as a transmitter + receiver pair, ``sessions`` times over;
- a window of outstanding requests per bind, enquire_link keepalive, dead-link detection and
  response timeouts (:class:`~mesiji.smpp.connection.SmppConnection`);
- reconnects with exponential backoff and jitter after a lost link or a failed bind;
- a TPS cap over all binds;
- ESME_RTHROTTLED and ESME_RMSGQFUL slow every bind down and the PDU is sent again, since the
  SMSC did not take it; other error statuses raise :class:`CommandStatusError`;
- a deliver_sm is answered only after ``on_deliver`` returned (raising makes the SMSC retry);
- :meth:`close` stops taking submits, lets outstanding ones finish, and unbinds.

A submit whose link drops before its response raises :class:`ConnectionClosedError`: the SMSC
may or may not have taken it, and only the caller can decide whether to risk a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from mesiji.clock import Clock, SystemClock, first_completed
from mesiji.errors import (
    BindError,
    CommandStatusError,
    ConnectionClosedError,
    SmppError,
    TransientStatusError,
)
from mesiji.pacing import Backoff, TokenBucket
from mesiji.smpp.connection import LinkSettings, PduObserver, SmppConnection
from mesiji.smpp.constants import TRANSIENT_STATUSES, status_name
from mesiji.smpp.pdus import (
    Bind,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    Pdu,
    Request,
    SubmitMulti,
    SubmitSm,
)
from mesiji.smpp.session import Role

log = logging.getLogger(__name__)

#: Receives each deliver_sm / data_sm from the SMSC; the SMSC hears OK once it returns.
DeliverHandler = Callable[[DeliverSm | DataSm], Awaitable[None]]
#: Opens a link for a connection factory and returns the connection (TCP unless injected;
#: :func:`mesiji.testing.memory_connector` for tests without sockets).
Connector = Callable[[Callable[[], SmppConnection]], Awaitable[SmppConnection]]


class BindKind(StrEnum):
    """How the client binds (SMPP 3.4 §2.2)."""

    transceiver = "transceiver"
    #: A transmitter for submits plus a receiver for deliveries.
    pair = "pair"
    transmitter = "transmitter"
    receiver = "receiver"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything an ESME needs to reach one SMSC account."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    bind: BindKind = BindKind.transceiver
    #: How many binds (or pairs of binds) to hold open at once.
    sessions: int = 1
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    link: LinkSettings = field(default_factory=LinkSettings)
    connect_timeout: float = 10.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    #: Submits per second over all binds; None for no cap.
    tps: float | None = None
    throttle_initial: float = 0.05
    throttle_max: float = 5.0
    #: How often one PDU may be throttled before :class:`TransientStatusError` is raised.
    max_throttle_retries: int = 50
    #: Seconds :meth:`SmppClient.close` waits for outstanding submits before unbinding.
    shutdown_timeout: float = 5.0


@dataclass(slots=True)
class ClientStats:
    submitted: int = 0
    throttled: int = 0
    delivered_to_us: int = 0
    binds: int = 0
    bind_failures: int = 0
    links_lost: int = 0


class SmppClient:
    """An ESME holding one or more binds to one SMSC."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        on_deliver: DeliverHandler | None = None,
        clock: Clock | None = None,
        observer: PduObserver | None = None,
        rng: random.Random | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.settings = settings
        self._connector = connector
        self.stats = ClientStats()
        self.last_error: Exception | None = None
        self._on_deliver = on_deliver
        self._clock = clock or SystemClock()
        self._observer = observer
        self._rng = rng or random.Random()
        self._bucket = TokenBucket(settings.tps) if settings.tps else None
        self._throttle = Backoff(settings.throttle_initial, settings.throttle_max, rng=self._rng)
        self._paused_until = 0.0
        self._links = [
            _Link(self, bind_class, f"{settings.system_id}@{settings.host}:{settings.port}#{i}")
            for i in range(settings.sessions)
            for bind_class in _BIND_CLASSES[settings.bind]
        ]
        self._bound_changed = asyncio.Event()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> SmppClient:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start connecting and binding in the background."""
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(link.run()) for link in self._links]

    @property
    def bound(self) -> bool:
        """Whether every bind is up."""
        return all(link.conn is not None for link in self._links)

    @property
    def can_submit(self) -> bool:
        """Whether at least one transmitting bind is up (the others may be reconnecting)."""
        return bool(self._transmitters())

    async def wait_bound(self, *, fail_fast: bool = False) -> None:
        """Wait until every bind is up (wrap in a timeout; ``last_error`` tells why not).

        With ``fail_fast`` a failed connect or bind raises :class:`BindError` (from the
        reason) at once instead of waiting for the reconnects: what a one-shot tool wants.
        """
        while not self.bound:
            if fail_fast and self.last_error is not None:
                raise BindError(str(self.last_error)) from self.last_error
            await self._binds_change()

    async def wait_can_submit(self) -> None:
        """Wait until some transmitting bind is up."""
        while not self.can_submit:
            await self._binds_change()

    async def submit(self, pdu: SubmitSm | DataSm | SubmitMulti) -> Pdu:
        """Submit ``pdu`` on a transmitting bind; returns the SMSC's OK response.

        Waits for a bind, for the TPS cap and for throttling to pass. Raises
        :class:`CommandStatusError` for a refusal, :class:`TransientStatusError` when still
        throttled after ``max_throttle_retries``, :class:`ResponseTimeoutError` or
        :class:`ConnectionClosedError` when the outcome is unknown.
        """
        if self._closing:
            raise ConnectionClosedError("the client is closing")
        self._inflight += 1
        self._idle.clear()
        try:
            return await self._submit(pdu)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def _submit(self, pdu: Request) -> Pdu:
        throttled = 0
        while True:
            conn = await self._transmitter()
            await self._pace()
            response = await conn.request(pdu)
            status = response.command_status
            if not status:
                self.stats.submitted += 1
                self._throttle.reset()
                return response
            message = f"{pdu.command_id.name} refused: {status_name(status)}"
            if status not in TRANSIENT_STATUSES:
                raise CommandStatusError(message, status)
            self.stats.throttled += 1
            throttled += 1
            if throttled > self.settings.max_throttle_retries:
                raise TransientStatusError(message, status)
            # §5.1.3 ESME_RTHROTTLED: the SMSC took nothing; slow every bind, then resend.
            self._paused_until = max(
                self._paused_until, self._clock.monotonic() + self._throttle.next_delay()
            )

    async def _pace(self) -> None:
        now = self._clock.monotonic()
        delay = self._paused_until - now
        if self._bucket is not None:
            delay = max(delay, self._bucket.reserve(now))
        if delay > 0:
            await self._clock.sleep(delay)

    def _transmitters(self) -> list[SmppConnection]:
        """The bound connections a submit may go on."""
        return [
            link.conn
            for link in self._links
            if link.conn is not None and link.conn.session.can_transmit
        ]

    async def _binds_change(self) -> None:
        """Wait until a bind comes up or goes down, or the client starts closing."""
        self._bound_changed.clear()
        await self._bound_changed.wait()

    async def _transmitter(self) -> SmppConnection:
        while True:
            ready = self._transmitters()
            if ready:
                return min(ready, key=lambda conn: conn.session.outstanding)
            if self._closing:
                raise ConnectionClosedError("the client is closing")
            await self._binds_change()

    async def close(self) -> None:
        """Stop submitting, let outstanding submits finish (bounded), unbind, disconnect."""
        if self._closing:
            return
        self._closing = True
        self._bound_changed.set()
        await first_completed(self._idle.wait(), self._clock.sleep(self.settings.shutdown_timeout))
        for task in self._tasks:
            task.cancel()
        for link in self._links:
            if link.conn is not None:
                await link.conn.unbind()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _link_changed(self) -> None:
        self._bound_changed.set()

    async def _deliver(self, request: Request) -> Pdu | None:
        self.stats.delivered_to_us += 1
        if self._on_deliver is not None and isinstance(request, DeliverSm | DataSm):
            await self._on_deliver(request)
        return None

    def _handle(self, request: Request) -> Awaitable[Pdu | None] | None:
        if isinstance(request, DeliverSm | DataSm):
            return self._deliver(request)
        log.info("ignoring %s from the SMSC", request.command_id.name)
        return None


_BIND_CLASSES: dict[BindKind, tuple[type[Bind], ...]] = {
    BindKind.transceiver: (BindTransceiver,),
    BindKind.pair: (BindTransmitter, BindReceiver),
    BindKind.transmitter: (BindTransmitter,),
    BindKind.receiver: (BindReceiver,),
}


class _Link:
    """One bind, kept up by reconnecting until the client closes."""

    def __init__(self, client: SmppClient, bind_class: type[Bind], name: str) -> None:
        self.client = client
        self.bind_class = bind_class
        self.name = f"{name}/{bind_class.command_id.name.removeprefix('bind_')}"
        self.conn: SmppConnection | None = None
        s = client.settings
        self.backoff = Backoff(s.reconnect_initial, s.reconnect_max, rng=client._rng)

    async def run(self) -> None:
        client = self.client
        while not client._closing:
            conn = await self._connect_and_bind()
            if conn is not None:
                self.backoff.reset()
                self.conn = conn
                client.stats.binds += 1
                client._link_changed()
                await conn.closed.wait()
                self.conn = None
                client._link_changed()
                if client._closing:
                    return
                client.stats.links_lost += 1
                log.warning("%s: link lost (%s)", self.name, conn.close_reason)
            await client._clock.sleep(self.backoff.next_delay())

    async def _connect_and_bind(self) -> SmppConnection | None:
        client = self.client
        s = client.settings
        loop = asyncio.get_running_loop()
        conn: SmppConnection | None = None
        try:

            def factory() -> SmppConnection:
                return SmppConnection(
                    Role.esme,
                    client._handle,
                    settings=s.link,
                    clock=client._clock,
                    observer=client._observer,
                    name=self.name,
                )

            async with asyncio.timeout(s.connect_timeout):
                if client._connector is not None:
                    conn = await client._connector(factory)
                else:
                    _, conn = await loop.create_connection(factory, s.host, s.port)
            await conn.bind(
                self.bind_class(
                    system_id=s.system_id,
                    password=s.password,
                    system_type=s.system_type,
                    addr_ton=s.addr_ton,
                    addr_npi=s.addr_npi,
                    address_range=s.address_range,
                )
            )
        except (OSError, TimeoutError, SmppError) as exc:
            client.stats.bind_failures += 1
            client.last_error = exc
            log.warning("%s: cannot bind: %s", self.name, exc)
            if conn is not None:
                conn.close("bind failed")
            client._link_changed()  # wakes wait_bound(fail_fast=True)
            return None
        return conn
