"""One SMPP link over asyncio: moves bytes between a socket and a :class:`Session`.

The protocol rules live in :mod:`mesiji.smpp.session` and the wire format in
:mod:`mesiji.smpp.codec`; this layer only writes, waits and times out. It serves both ends: the
ESME client and the SMSC simulator each wrap one :class:`SmppConnection` per TCP connection.

Incoming requests go to a handler. Its answer is sent only when it has returned, so a delivery
receipt is stored before the SMSC hears deliver_sm_resp and can forget it (SMPP 3.4 §4.6). A
handler may answer at once (return a PDU) or later (return an awaitable).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mesiji.clock import Clock, SystemClock
from mesiji.errors import (
    BindError,
    ConnectionClosedError,
    PduError,
    RemoteProtocolError,
    ResponseTimeoutError,
)
from mesiji.smpp.codec import PduDecoder, encode
from mesiji.smpp.constants import CommandStatus, status_name
from mesiji.smpp.pdus import (
    PDU_CLASSES,
    Bind,
    BindResp,
    DataSm,
    DeliverSm,
    EnquireLink,
    GenericNack,
    Pdu,
    Request,
    Unbind,
)
from mesiji.smpp.session import (
    NotificationReceived,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    Role,
    Session,
    UnexpectedResponse,
)

log = logging.getLogger(__name__)

#: What a handler returns: the response (None means "OK, empty body"), now or later.
HandlerResult = Pdu | None | Awaitable[Pdu | None]
RequestHandler = Callable[[Request], HandlerResult]
#: Called with "<" or ">" and each PDU received or sent (for tracing and troubleshooting).
PduObserver = Callable[[str, Pdu], None]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Timing and flow settings of one link."""

    #: Requests sent and not yet answered, at most (SMPP 3.4 §2.5 "windowing").
    window: int = 10
    #: Seconds to wait for a response before the request fails.
    response_timeout: float = 10.0
    #: Seconds of silence after which an enquire_link is sent (§4.11); unanswered = dead link.
    enquire_link_interval: float = 30.0


class SmppConnection(asyncio.Protocol):
    """An SMPP session bound to one asyncio transport."""

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
        self.settings = settings or LinkSettings()
        self.session = Session(role, window=self.settings.window)
        self.name = name
        self._handler = handler
        self._clock = clock or SystemClock()
        self._observer = observer
        self._decoder = PduDecoder()
        self._transport: asyncio.Transport | None = None
        self._waiters: dict[int, asyncio.Future[Pdu]] = {}
        self._window = asyncio.Semaphore(self.settings.window)
        self._writable = asyncio.Event()
        self._writable.set()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._last_heard = self._clock.monotonic()
        self._keepalive_pending = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_reason: str | None = None

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport
        self._last_heard = self._clock.monotonic()
        self._timer = asyncio.get_running_loop().create_task(self._run_timer())

    def data_received(self, data: bytes) -> None:
        self._last_heard = self._clock.monotonic()
        self._decoder.feed(data)
        while True:
            try:
                pdu = self._decoder.next_pdu()
            except PduError as exc:
                self._reject(exc)
                if self._decoder.failed:
                    return
                continue
            if pdu is None:
                return
            if self._observer is not None:
                self._observer("<", pdu)
            self._dispatch(pdu)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_reason is None:
            self.close_reason = f"connection lost: {exc}" if exc else "closed by peer"
        for request in self.session.abandon():
            waiter = self._waiters.pop(request.sequence_number, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionClosedError(f"{self.name}: {self.close_reason}"))
        if self._timer is not None:
            self._timer.cancel()
        self._writable.set()
        self.closed.set()

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
        async with self._window:
            if self.is_closed:
                raise ConnectionClosedError(f"{self.name}: {self.close_reason or 'not open'}")
            if not self._writable.is_set():
                await self._writable.wait()
            return await self._send_request(pdu)

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
                await asyncio.shield(self._send_request(Unbind(), force=True))
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

    def send(self, pdu: Pdu) -> None:
        """Write a PDU that takes no response (generic_nack, outbind, alert_notification)."""
        self._write(pdu)

    async def _send_request(self, pdu: Request, *, force: bool = False) -> Pdu:
        session = self.session
        if force and session.window_full:
            # keepalive and unbind must get through even when the window is full
            session.window += 1
            try:
                request = session.send_request(pdu, self._clock.monotonic())
            finally:
                session.window -= 1
        else:
            request = session.send_request(pdu, self._clock.monotonic())
        try:
            data = encode(request)
        except PduError:
            # A PDU that cannot be encoded never left: free its sequence number and window slot.
            session.cancel(request.sequence_number)
            raise
        waiter: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._waiters[request.sequence_number] = waiter
        self._write(request, data)
        return await waiter

    def _write(self, pdu: Pdu, data: bytes | None = None) -> None:
        if self._observer is not None:
            self._observer(">", pdu)
        self._out.append(data if data is not None else encode(pdu))
        if not self._flush_scheduled:
            # Coalesce the PDUs of one event-loop pass into one send: far fewer syscalls at
            # high rates, and no added latency since the loop runs it next.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._out))
        self._out.clear()

    # --- receiving ---------------------------------------------------------------------

    def _dispatch(self, pdu: Pdu) -> None:
        event = self.session.receive(pdu)
        if isinstance(event, ResponseReceived):
            waiter = self._waiters.pop(pdu.sequence_number, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event.response)
            if isinstance(event.request, EnquireLink):
                self._keepalive_pending = False
        elif isinstance(event, RequestReceived):
            self._answer(event.request)
        elif isinstance(event, RequestRefused):
            self._write(event.response)
        elif isinstance(event, UnexpectedResponse):
            log.warning("%s: response to no outstanding request: %r", self.name, pdu)
        elif isinstance(event, NotificationReceived):
            self._call_handler_for_notification(pdu)

    def _answer(self, request: Request) -> None:
        if isinstance(request, EnquireLink):
            self._write(request.response())
            return
        if isinstance(request, Unbind):
            self._write(self.session.send_response(request, request.response()))
            self.close("unbound by peer")
            return
        try:
            result = self._handler(request)
        except Exception as exc:  # a handler's bug must not kill the link
            self._write(self._handler_failed(request, exc))
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
            self._write(self._handler_failed(request, exc))
            return
        self._respond(request, response)

    def _respond(self, request: Request, response: Pdu | None) -> None:
        if response is None:
            response = request.response()
        self._write(self.session.send_response(request, response))

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

    def _reject(self, exc: PduError) -> None:
        log.warning("%s: malformed PDU: %s", self.name, exc)
        sequence = exc.sequence_number or 0
        cls = PDU_CLASSES.get(exc.command_id or 0)
        if cls is not None and issubclass(cls, Request) and not self._decoder.failed:
            # A request we recognised but cannot accept gets its own response carrying the
            # error (e.g. §4.4.2 submit_sm_resp); anything unrecognised gets generic_nack (§4.3).
            response = cls.response_class(
                sequence_number=sequence, command_status=exc.command_status
            )
            self._write(response)
        elif cls is None or not cls.command_id & 0x80000000:
            self._write(GenericNack(sequence_number=sequence, command_status=exc.command_status))
        # A malformed response is only logged: its request times out like an unanswered one.
        if self._decoder.failed:
            self.close(f"unrecoverable framing error: {exc}")

    # --- time --------------------------------------------------------------------------

    async def _run_timer(self) -> None:
        settings = self.settings
        tick = max(0.01, min(settings.response_timeout, settings.enquire_link_interval) / 4)
        while not self.closed.is_set():
            await self._clock.sleep(tick)
            now = self._clock.monotonic()
            for request in self.session.expired(now, settings.response_timeout):
                waiter = self._waiters.pop(request.sequence_number, None)
                if isinstance(request, EnquireLink):
                    self.close("enquire_link unanswered: dead link")
                if waiter is not None and not waiter.done():
                    waiter.set_exception(
                        ResponseTimeoutError(
                            f"{self.name}: no response to {request.command_id.name} "
                            f"#{request.sequence_number} in {settings.response_timeout}s"
                        )
                    )
            if (
                self.session.bound
                and not self._keepalive_pending
                and now - self._last_heard >= settings.enquire_link_interval
            ):
                self._keepalive_pending = True
                task = asyncio.get_running_loop().create_task(self._keepalive())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _keepalive(self) -> None:
        with contextlib.suppress(ConnectionClosedError, ResponseTimeoutError):
            await self._send_request(EnquireLink(), force=True)


__all__ = ["HandlerResult", "LinkSettings", "PduObserver", "RequestHandler", "SmppConnection"]
