"""One SMPP link over asyncio: moves bytes and one timer for an :class:`SmppProtocol`.

Every protocol decision (window, keepalive, automatic answers, timeouts, states) lives in
:mod:`mesiji.smpp.protocol`; this layer reads -> feeds -> writes what the protocol returns, arms
one timer (``loop.call_at`` on the injected clock) for its next deadline, and turns its events
into futures and handler calls. It serves both ends: the
ESME client and the SMSC simulator each wrap one :class:`SmppConnection` per TCP connection.

Incoming requests go to a handler. Its answer is sent only when it has returned, so a delivery
receipt is stored before the SMSC hears deliver_sm_resp and can forget it (SMPP 3.4 §4.6). A
handler may answer at once (return a PDU) or later (return an awaitable).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mesiji.clock import Clock, SystemClock, TimerHandle
from mesiji.errors import (
    BindError,
    ConnectionClosedError,
    RemoteProtocolError,
    ResponseTimeoutError,
)
from mesiji.smpp.constants import CommandStatus, status_name
from mesiji.smpp.pdus import Bind, BindResp, DataSm, DeliverSm, Pdu, Request, Unbind
from mesiji.smpp.protocol import (
    Answered,
    Closed,
    LinkDead,
    NotificationReceived,
    PeerProtocolError,
    RequestReceived,
    SmppProtocol,
    TimedOut,
)
from mesiji.smpp.session import Role, Session
from mesiji.smpp.transport import Transport

log = logging.getLogger(__name__)

#: What a handler returns: the response (None means "OK, empty body"), now or later.
HandlerResult = Pdu | None | Awaitable[Pdu | None]
RequestHandler = Callable[[Request], HandlerResult]
#: Called with "<" or ">" and each PDU received or sent (for tracing and troubleshooting).
PduObserver = Callable[[str, Pdu], None]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Timing and flow settings of one link."""

    #: Requests sent and not yet answered, at most: SMPP 3.4 allows asynchronous exchange but
    #: sets no size (see mesiji.smpp.protocol); enquire_link and unbind do not count.
    window: int = 10
    #: Seconds to wait for a response before the request fails.
    response_timeout: float = 10.0
    #: Seconds of silence after which an enquire_link is sent (§4.11).
    enquire_link_interval: float = 30.0
    #: Unanswered enquire_links in a row after which the link is dead.
    dead_after: int = 1


class SmppConnection(asyncio.Protocol):
    """An SMPP session over one transport (a socket, or a memory pair in tests)."""

    def __init__(
        self,
        role: Role,
        handler: RequestHandler,
        *,
        settings: LinkSettings | None = None,
        clock: Clock | None = None,
        observer: PduObserver | None = None,
        name: str = "smpp",
    ) -> None:
        self.settings = s = settings or LinkSettings()
        self.name = name
        self._handler = handler
        self._clock = clock or SystemClock()
        self.protocol = SmppProtocol(
            role,
            window=s.window,
            response_timeout=s.response_timeout,
            enquire_link_interval=s.enquire_link_interval,
            dead_after=s.dead_after,
            now=self._clock.monotonic(),
            observer=observer,
        )
        self._transport: Transport | None = None
        # Room in the window is the protocol's to count; these only wait for it, first come
        # first served, and each freed slot wakes one of them (a Condition's notify(1)).
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        self._writable = asyncio.Event()
        self._writable.set()
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self.closed = asyncio.Event()
        self.close_reason: str | None = None

    @property
    def session(self) -> Session:
        """The protocol's session state (bound, can_transmit, outstanding)."""
        return self.protocol.session

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport
        self.protocol.receive_data(b"", self._clock.monotonic())
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data, self._clock.monotonic())
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "closed by peer"
        self.protocol.close(self.close_reason or reason)
        self._transport = None
        self._pump()
        if self.close_reason is None:
            self.close_reason = reason
        self.closed.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- sending -----------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.closed.is_set() or self._transport is None

    async def request(self, pdu: Request) -> Pdu:
        """Send ``pdu`` and return the peer's response, whatever its command_status.

        Waits for room in the window and in the socket's buffer first. Raises
        :class:`ResponseTimeoutError` or :class:`ConnectionClosedError`.
        """
        protocol = self.protocol
        command_id = pdu.command_id
        while True:
            if self._transport is None or self.closed.is_set():
                raise ConnectionClosedError(f"{self.name}: {self.close_reason or 'not open'}")
            if not self._writable.is_set():
                await self._writable.wait()
                continue
            if protocol.can_send(command_id) or not protocol.session.allowed(command_id):
                # Not allowed in this state: send() raises LocalProtocolError, as it should.
                return await self._send_request(pdu)
            waiter = asyncio.get_running_loop().create_future()
            self._room_waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the slot this waiter was given on
                raise

    async def bind(self, pdu: Bind) -> BindResp:
        """Bind; raises :class:`BindError` unless the SMSC answers ESME_ROK."""
        response = await self.request(pdu)
        if not isinstance(response, BindResp) or response.command_status:
            raise BindError(
                f"{self.name}: {pdu.command_id.name} refused: "
                f"{status_name(response.command_status)}"
            )
        return response

    async def unbind(self) -> None:
        """End the session politely (§4.2) and close the connection; never raises."""
        if self.is_closed:
            return
        try:
            if self.session.bound:
                # unbind never counts against the window (mesiji.smpp.protocol).
                await asyncio.shield(self._send_request(Unbind()))
        except (ConnectionClosedError, ResponseTimeoutError, RemoteProtocolError):
            pass
        finally:
            self.close("unbound")

    def close(self, reason: str = "closed") -> None:
        """Close after writing what is buffered."""
        if self.close_reason is None:
            self.close_reason = reason
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def send(self, pdu: Pdu, *, unchecked: bool = False) -> None:
        """Write a PDU that takes no response (generic_nack, outbind, alert_notification).

        ``unchecked`` writes any PDU past the session's rules: only to play a faulty peer.
        """
        self.protocol.send_pdu(pdu, unchecked=unchecked)
        self._schedule_flush()

    async def _send_request(self, pdu: Request) -> Pdu:
        waiter: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        protocol = self.protocol
        protocol.send(pdu, token=waiter, now=self._clock.monotonic())
        # send() raises no event: only the bytes need to go, and the request's deadline.
        if protocol.session.outstanding == 1:
            # Nothing else of ours is with the peer, so it is idle: write now rather than at
            # the end of this loop pass. Under load this keeps the window in two batches in
            # flight (the peer works on one while we prepare the next) instead of one.
            self._flush()
        else:
            self._schedule_flush()
        self._arm_timer()
        return await waiter

    # --- moving bytes and events -------------------------------------------------------

    def _pump(self) -> None:
        """Act on the protocol's events, then write its bytes and re-arm its timer."""
        protocol = self.protocol
        while (event := protocol.next_event()) is not None:
            if isinstance(event, Answered):
                _resolve(event.token, event.response)
                self._wake_one()
            elif isinstance(event, RequestReceived):
                self._answer(event.request)
            elif isinstance(event, TimedOut):
                _fail(
                    event.token,
                    ResponseTimeoutError(
                        f"{self.name}: no response to {event.request.command_id.name} "
                        f"#{event.request.sequence_number} in {self.settings.response_timeout}s"
                    ),
                )
                self._wake_one()
            elif isinstance(event, NotificationReceived):
                self._call_handler_for_notification(event.pdu)
            elif isinstance(event, PeerProtocolError):
                log.warning("%s: %s", self.name, event.error)
            elif isinstance(event, LinkDead):
                log.warning("%s: %s", self.name, event.reason)
            elif isinstance(event, Closed):
                self._on_closed(event)
        self._schedule_flush()
        self._arm_timer()

    def _on_closed(self, event: Closed) -> None:
        if self.close_reason is None:
            self.close_reason = event.reason
        error = ConnectionClosedError(f"{self.name}: {self.close_reason}")
        for token in event.abandoned:
            _fail(token, error)
        while self._room_waiters:
            self._wake_one()
        self._writable.set()
        if self._transport is not None:
            self._flush()
            self._transport.close()  # connection_lost follows and sets ``closed``

    def _wake_one(self) -> None:
        while self._room_waiters:
            waiter = self._room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            # Coalesce the PDUs of one event-loop pass into one send: far fewer syscalls at
            # high rates, and no added latency since the loop runs it next.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.protocol.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _arm_timer(self) -> None:
        """The one timer: the protocol's next deadline, on the injected clock."""
        deadline = self.protocol.next_deadline()
        timer_at = self._timer_at
        if timer_at is not None and deadline is not None and timer_at <= deadline:
            # An earlier timer is armed: let it fire, tick() is harmless early and re-arms.
            # Saves a cancel + call_at for every request at high rates.
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.protocol.tick(self._clock.monotonic())
        self._pump()

    # --- answering the peer ------------------------------------------------------------

    def _answer(self, request: Request) -> None:
        try:
            result = self._handler(request)
        except Exception as exc:  # a handler's bug must not kill the link
            self._respond(request, self._handler_failed(request, exc))
            return
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(self._answer_later(request, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._respond(request, result)

    async def _answer_later(self, request: Request, result: Awaitable[Pdu | None]) -> None:
        try:
            response = await result
        except Exception as exc:
            response = self._handler_failed(request, exc)
        self._respond(request, response)

    def _respond(self, request: Request, response: Pdu | None) -> None:
        if self.protocol.closed:
            return  # the link went while the handler ran; the peer will ask again
        self.protocol.respond(request, response)
        # A response raises no event and moves no deadline: only the bytes need to go.
        self._schedule_flush()

    def _handler_failed(self, request: Request, exc: Exception) -> Pdu:
        log.error("%s: handler failed for %r", self.name, request, exc_info=exc)
        # §5.1.3: ESME_RX_T_APPN asks the SMSC to deliver again later; nothing is lost.
        if isinstance(request, DeliverSm | DataSm):
            return request.response(CommandStatus.ESME_RX_T_APPN)
        return request.response(CommandStatus.ESME_RSYSERR)

    def _call_handler_for_notification(self, pdu: Pdu) -> None:
        try:
            self._handler(pdu)  # type: ignore[arg-type]
        except Exception:
            log.exception("%s: handler failed for %r", self.name, pdu)


def _resolve(token: object, response: Pdu) -> None:
    if isinstance(token, asyncio.Future) and not token.done():
        token.set_result(response)


def _fail(token: object, error: Exception) -> None:
    if isinstance(token, asyncio.Future) and not token.done():
        token.set_exception(error)


__all__ = ["HandlerResult", "LinkSettings", "PduObserver", "RequestHandler", "SmppConnection"]
