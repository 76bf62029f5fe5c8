"""One SMPP 3.4 bind with no I/O, h11-style: bytes and time in, events and bytes out.

::

    proto = SmppProtocol(Role.esme, window=1, enquire_link_interval=30.0, now=clock.monotonic())
    proto.send(BindTransceiver(...), token=waiter)   # numbers it; bytes wait in data_to_send()
    proto.receive_data(data, now)                     # what the socket read
    while (event := proto.next_event()) is not None: ...
    proto.tick(now)                                   # when now >= proto.next_deadline()
    transport.write(proto.data_to_send())

Every protocol decision of a bind is made here, once:

- **States** (open, binding, bound_tx/rx/trx, unbinding, closed) and the requests each allows:
  :mod:`~mesiji.smpp.session`'s one transition table and its per-role request tables (SMPP
  3.4 chapter 2, session states and the PDUs each allows).
- **Sequence numbers**: 1 to 0x7FFFFFFF, wrapping, never one still in flight (§5.1.4).
- **The window**, counted here and nowhere else: requests the application sends (submit_sm,
  deliver_sm, query_sm, bind ...) that are not yet answered. SMPP 3.4 says requests and
  responses may be exchanged synchronously or asynchronously: an ESME may send several
  requests without waiting for each response (chapter 2's sample PDU sequences). It names no
  window size and no section on "windowing"; the size is agreed between the two ends outside
  the protocol. (The section number of that text was not confirmed against the spec, so none
  is cited.) enquire_link and unbind do NOT count: an
  enquire_link is how an end finds a dead link (§4.11), so it must be sendable with a full
  window, or a link that stopped answering could never be found; an unbind ends the session
  whatever is in flight (§4.2). Each adds at most one PDU beyond the window (one keepalive is
  outstanding at a time, one unbind per session). The asyncio layer asks :meth:`can_send`
  before :meth:`send`; asking to send into a full window is the caller's bug
  (:class:`LocalProtocolError`).
- **Keepalive**: an enquire_link when nothing was heard for ``enquire_link_interval`` seconds;
  the link is dead after ``dead_after`` of them in a row go unanswered (:class:`LinkDead`).
- **Automatic answers**: enquire_link_resp; unbind_resp, then :class:`Closed`; generic_nack for
  a PDU that cannot be decoded (§4.3), the request's own response with the error status for one
  that decodes but is invalid (e.g. §4.4.2); ESME_RINVBNDSTS (ESME_RALYBND for a second bind)
  for a request not allowed in this state. Each also surfaces as
  :class:`PeerProtocolError` when it is the peer's fault.
- **Response timeouts**: :class:`TimedOut` carries the request and its token.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mesiji.errors import LocalProtocolError, PduError, RemoteProtocolError
from mesiji.smpp.codec import DEFAULT_MAX_COMMAND_LENGTH, PduDecoder, encode
from mesiji.smpp.constants import CommandId
from mesiji.smpp.pdus import PDU_CLASSES, EnquireLink, GenericNack, Pdu, Request, Unbind
from mesiji.smpp.session import (
    UNWINDOWED,
    NotificationReceived,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    Role,
    Session,
    SessionState,
    UnexpectedResponse,
)


@dataclass(frozen=True, slots=True)
class Answered:
    """The peer answered ``request`` (``response`` may be a generic_nack or carry an error)."""

    request: Request
    response: Pdu
    token: object


@dataclass(frozen=True, slots=True)
class TimedOut:
    """No response to ``request`` within the response timeout; the window slot is free."""

    request: Request
    token: object


@dataclass(frozen=True, slots=True)
class PeerProtocolError:
    """The peer broke SMPP 3.4; any answer it needed is already in :meth:`data_to_send`."""

    error: RemoteProtocolError


@dataclass(frozen=True, slots=True)
class LinkDead:
    """``dead_after`` enquire_links in a row went unanswered (§4.11); :class:`Closed` follows."""

    reason: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over; ``abandoned`` are the tokens of requests never answered."""

    reason: str
    abandoned: tuple[object, ...]


#: What the protocol reports; a request from the peer and a notification come as the session
#: reports them (:class:`RequestReceived`, :class:`NotificationReceived`).
Event = (
    Answered
    | RequestReceived
    | NotificationReceived
    | TimedOut
    | PeerProtocolError
    | LinkDead
    | Closed
)

#: Token of the requests the protocol sends on its own (keepalives).
_INTERNAL = object()


class SmppProtocol:
    """The whole state of one bind (either role), fed bytes and time; see the module doc."""

    def __init__(
        self,
        role: Role,
        *,
        window: int = 10,
        response_timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        dead_after: int = 1,
        now: float = 0.0,
        max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH,
        observer: Callable[[str, Pdu], None] | None = None,
    ) -> None:
        if response_timeout <= 0 or enquire_link_interval <= 0 or dead_after < 1:
            raise LocalProtocolError("timeouts must be positive and dead_after at least 1")
        self.session = Session(role, window=window)
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self.dead_after = dead_after
        self.close_reason: str | None = None
        self._now = now
        self._last_heard = now
        self._decoder = PduDecoder(max_command_length)
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []
        self._tokens: dict[int, object] = {}
        self._keepalive: int | None = None  # sequence of the enquire_link in flight
        self._missed = 0
        # Sees every PDU decoded ("<") and queued (">"), automatic answers included.
        self._observer = observer

    # --- what the caller asks ------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def closed(self) -> bool:
        return self.session.state is SessionState.closed

    def can_send(self, command_id: CommandId = CommandId.submit_sm) -> bool:
        """Whether :meth:`send` of ``command_id`` would be accepted now (state and window)."""
        session = self.session
        # The window first: it is the cheap test, and the one that fails under load.
        if session.window_full and command_id not in UNWINDOWED:
            return False
        return session.allowed(command_id)

    def send(self, request: Request, *, token: object = None, now: float | None = None) -> Request:
        """Number ``request``, queue its bytes, and return it as sent.

        ``token`` comes back in its :class:`Answered` or :class:`TimedOut` event. Raises
        :class:`LocalProtocolError` when the state does not allow it or the window is full,
        :class:`PduError` when it cannot be encoded (then nothing is queued).
        """
        if now is not None:
            self._now = now
        request = self.session.send_request(request, self._now)
        try:
            data = encode(request)
        except PduError:
            self.session.cancel(request.sequence_number)
            raise
        self._tokens[request.sequence_number] = token
        self._queue(request, data)
        return request

    def respond(self, request: Request, response: Pdu | None = None) -> Pdu:
        """Queue the answer to a :class:`RequestReceived` (None: OK with an empty body)."""
        if self.closed:
            raise LocalProtocolError("the session is closed")
        response = self.session.send_response(
            request, response if response is not None else request.response()
        )
        self._queue(response)
        return response

    def send_pdu(self, pdu: Pdu, *, unchecked: bool = False) -> None:
        """Queue a PDU that takes no response (generic_nack, outbind, alert_notification).

        ``unchecked`` writes any PDU past the session's rules: only to play a faulty peer.
        """
        if isinstance(pdu, Request) and not unchecked:
            raise LocalProtocolError(f"{pdu.command_id.name} takes a response: use send()")
        self._queue(pdu)

    def data_to_send(self) -> bytes:
        """The bytes queued since the last call (empty when there are none)."""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def next_event(self) -> Event | None:
        """The next event, or None when the bytes and time fed so far hold no more."""
        return self._events.popleft() if self._events else None

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do (None: never, as things stand)."""
        # Asked after every batch of bytes in and every request out: no allocation here.
        session = self.session
        if session.state is SessionState.closed:
            return None
        oldest = session.oldest_sent()
        deadline = None if oldest is None else oldest + self.response_timeout
        if self._keepalive is None and session.bound:
            keepalive = self._last_heard + self.enquire_link_interval
            if deadline is None or keepalive < deadline:
                return keepalive
        return deadline

    def close(self, reason: str) -> None:
        """The link is gone or is being dropped: every outstanding request is abandoned."""
        if self.closed and self.close_reason is not None:
            return
        self.close_reason = reason
        abandoned = [self._tokens.pop(r.sequence_number, None) for r in self.session.abandon()]
        self._tokens.clear()
        self._events.append(Closed(reason, tuple(t for t in abandoned if t is not _INTERNAL)))

    # --- time --------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Let time pass: response timeouts, keepalives, dead links."""
        self._now = now
        if self.closed:
            return
        for request in self.session.expired(now, self.response_timeout):
            token = self._tokens.pop(request.sequence_number, None)
            if token is not _INTERNAL:
                self._events.append(TimedOut(request, token))
                continue
            self._keepalive = None
            self._missed += 1
            if self._missed >= self.dead_after:
                reason = f"{self._missed} enquire_link unanswered: dead link"
                self._events.append(LinkDead(reason))
                self.close(reason)
                return
        if (
            self.session.bound
            and self._keepalive is None
            and now - self._last_heard >= self.enquire_link_interval
        ):
            # §4.11: nothing heard for a while; ask. Never blocked by the window (see above).
            self._keepalive = self.send(EnquireLink(), token=_INTERNAL).sequence_number

    # --- bytes in ----------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Feed bytes read from the peer; events become available from :meth:`next_event`."""
        if now is not None:
            self._now = now
        session = self.session
        if session.state is SessionState.closed:
            return
        self._last_heard = self._now
        decoder = self._decoder
        decoder.feed(data)
        while True:
            try:
                pdu = decoder.next_pdu()
            except PduError as exc:
                self._reject(exc)
                if decoder.failed:
                    self.close(f"unrecoverable framing error: {exc}")
                    return
                continue
            if pdu is None:
                return
            self._receive(pdu)
            if self.closed:
                return  # an unbind, or the unbind_resp to ours: what follows is not read

    def _queue(self, pdu: Pdu, data: bytes | None = None) -> None:
        if self._observer is not None:
            self._observer(">", pdu)
        self._out.append(data if data is not None else encode(pdu))

    def _receive(self, pdu: Pdu) -> None:
        if self._observer is not None:
            self._observer("<", pdu)
        event = self.session.receive(pdu)
        if isinstance(event, ResponseReceived):
            token = self._tokens.pop(pdu.sequence_number, None)
            if pdu.sequence_number == self._keepalive:
                self._keepalive = None
                self._missed = 0
            if token is not _INTERNAL:
                self._events.append(Answered(event.request, event.response, token))
            if isinstance(event.request, Unbind):
                self.close("unbound")
        elif isinstance(event, RequestReceived):
            request = event.request
            if isinstance(request, EnquireLink):
                self.respond(request)
            elif isinstance(request, Unbind):
                # §4.2: answer unbind_resp, then the session is over.
                self.respond(request)
                self.close("unbound by peer")
            else:
                self._events.append(event)
        elif isinstance(event, RequestRefused):
            self._queue(event.response)
            self._events.append(
                PeerProtocolError(
                    RemoteProtocolError(
                        f"{pdu.command_id.name} not allowed in state {self.state.value}"
                    )
                )
            )
        elif isinstance(event, UnexpectedResponse):
            self._events.append(
                PeerProtocolError(
                    RemoteProtocolError(
                        f"{pdu.command_id.name} #{pdu.sequence_number} answers no request"
                    )
                )
            )
        elif isinstance(event, NotificationReceived):
            self._events.append(event)

    def _reject(self, exc: PduError) -> None:
        sequence = exc.sequence_number or 0
        cls = PDU_CLASSES.get(exc.command_id or 0)
        if cls is not None and issubclass(cls, Request) and not self._decoder.failed:
            # A request we recognised but cannot accept gets its own response carrying the
            # error (e.g. §4.4.2 submit_sm_resp); anything unrecognised gets generic_nack (§4.3).
            self._queue(
                cls.response_class(sequence_number=sequence, command_status=exc.command_status)
            )
        elif cls is None or not cls.command_id & 0x80000000:
            self._queue(GenericNack(sequence_number=sequence, command_status=exc.command_status))
        # A malformed response is only reported: its request times out like an unanswered one.
        self._events.append(PeerProtocolError(RemoteProtocolError(f"malformed PDU: {exc}")))


__all__ = [
    "Answered",
    "Closed",
    "Event",
    "LinkDead",
    "NotificationReceived",
    "PeerProtocolError",
    "RequestReceived",
    "SmppProtocol",
    "TimedOut",
]
