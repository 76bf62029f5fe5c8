"""The rules of one SMPP 3.4 session, with no I/O: bind states, sequence numbers, the window.

A :class:`Session` is told what is sent and what arrives, and answers what that means: a
response matched to its request, a request the peer may or may not send in this state, a
request that took too long. The asyncio layer (:mod:`mesiji.smpp.connection`) only moves bytes
and waits.

Every state change goes through one table, :data:`TRANSITIONS` (``(state, trigger) -> state``),
the same for both roles; who may originate which request in each state is the pair of tables
beside it (``_ESME_SENDS`` / ``_SMSC_SENDS``). A change the table lacks is our own bug
(:class:`LocalProtocolError`); a request the peer may not send now is answered with the error
response instead (ESME_RINVBNDSTS, ESME_RALYBND for a bind once bound). The states are SMPP
3.4's (OPEN, BOUND_TX/RX/TRX, CLOSED) plus ``binding`` (a bind in flight) and ``unbinding``
(our unbind in flight)::

                 bind sent (ESME) / received (SMSC)
    open ───────────────────────────────────────▶ binding
      ▲                                              │ bind answered ESME_ROK
      └──── bind answered with an error, generic_nack,│ (bind_resp received by the ESME,
            timed out or never sent ◀────────────────┤  sent by the SMSC)
                                                     ▼
                             bound_tx | bound_rx | bound_trx
                      unbind sent │            │ the peer's unbind answered ESME_ROK
                                  ▼            ▼
                          unbinding ──────▶ closed ◀── the link is gone (from any state)
                            our unbind answered

Only binds and unbinds consult the table: a submit_sm, deliver_sm or their responses cost one
dict lookup that finds nothing, as the ``if`` they replaced did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mesiji.errors import LocalProtocolError
from mesiji.smpp.constants import CommandId, CommandStatus
from mesiji.smpp.pdus import (
    GenericNack,
    Pdu,
    Request,
)

C = CommandId

#: SMPP 3.4 §5.1.4 (sequence_number): from 0x00000001 to 0x7FFFFFFF.
MAX_SEQUENCE = 0x7FFFFFFF

#: Link-management requests that never count against the window: an enquire_link must get
#: through a full window or a dead link could never be found (§4.11), and an unbind ends the
#: session whatever is in flight (§4.2). See :mod:`mesiji.smpp.protocol` for the reasoning.
UNWINDOWED = frozenset({CommandId.enquire_link, CommandId.unbind})


class Role(Enum):
    """Which end of the link this session is."""

    esme = "esme"
    smsc = "smsc"


class SessionState(Enum):
    open = "open"
    binding = "binding"
    bound_tx = "bound_tx"
    bound_rx = "bound_rx"
    bound_trx = "bound_trx"
    unbinding = "unbinding"
    closed = "closed"


class Trigger(Enum):
    """What moves a session to another state: the second half of a :data:`TRANSITIONS` key."""

    bind = "bind sent (ESME) or received (SMSC)"
    bound_tx = "bind_transmitter answered ESME_ROK"
    bound_rx = "bind_receiver answered ESME_ROK"
    bound_trx = "bind_transceiver answered ESME_ROK"
    bind_refused = "bind answered with an error or generic_nack, timed out or never sent"
    unbind = "unbind sent"
    unbind_answered = "our unbind answered"
    peer_unbind_answered = "the peer's unbind answered ESME_ROK"
    link_closed = "link closed"


S = SessionState
T = Trigger
_BOUND = (S.bound_tx, S.bound_rx, S.bound_trx)

#: Every state change of a session, both roles: (state, trigger) -> new state.
TRANSITIONS: dict[tuple[SessionState, Trigger], SessionState] = {
    (S.open, T.bind): S.binding,
    (S.binding, T.bound_tx): S.bound_tx,
    (S.binding, T.bound_rx): S.bound_rx,
    (S.binding, T.bound_trx): S.bound_trx,
    (S.binding, T.bind_refused): S.open,
    **{(state, T.unbind): S.unbinding for state in _BOUND},
    **{(state, T.peer_unbind_answered): S.closed for state in _BOUND},
    (S.unbinding, T.unbind_answered): S.closed,
    **{(state, T.link_closed): S.closed for state in S},
}

# Which requests fire a trigger, and when. Anything else (submit_sm, deliver_sm ...) finds
# nothing here and leaves the state alone.
_BINDS = (C.bind_transmitter, C.bind_receiver, C.bind_transceiver)
_ON_SEND = {**dict.fromkeys(_BINDS, T.bind), C.unbind: T.unbind}
_ON_RECEIVE = dict.fromkeys(_BINDS, T.bind)
_ON_GIVEN_UP = dict.fromkeys(_BINDS, T.bind_refused)  # timed out, or never sent
# (trigger when answered ESME_ROK, trigger when answered with an error or generic_nack)
_BIND_OUTCOME = {
    C.bind_transmitter: (T.bound_tx, T.bind_refused),
    C.bind_receiver: (T.bound_rx, T.bind_refused),
    C.bind_transceiver: (T.bound_trx, T.bind_refused),
}
_ON_RESPONSE: dict[CommandId, tuple[Trigger, Trigger | None]] = {
    **_BIND_OUTCOME,
    # Whatever the peer answers our unbind, the session is over.
    C.unbind: (T.unbind_answered, T.unbind_answered),
}
_ON_ANSWER: dict[CommandId, tuple[Trigger, Trigger | None]] = {
    **_BIND_OUTCOME,
    # Refusing the peer's unbind keeps the session bound.
    C.unbind: (T.peer_unbind_answered, None),
}

# Requests an ESME may originate, and requests an SMSC may originate, per state (SMPP 3.4
# chapter 2's table of PDUs by session state). While a bind is in flight, only enquire_link.
_ANY_BOUND = {C.enquire_link, C.unbind}
_ESME_TX = {C.submit_sm, C.submit_multi, C.data_sm, C.query_sm, C.cancel_sm, C.replace_sm}
_SMSC_RX = {C.deliver_sm, C.data_sm, C.alert_notification}
_ESME_SENDS = {
    S.open: {*_BINDS, C.enquire_link},
    S.binding: {C.enquire_link},
    S.bound_tx: _ESME_TX | _ANY_BOUND,
    S.bound_rx: _ANY_BOUND,
    S.bound_trx: _ESME_TX | _ANY_BOUND,
    S.unbinding: set(),
    S.closed: set(),
}
_SMSC_SENDS = {
    S.open: {C.outbind, C.enquire_link},
    S.binding: {C.enquire_link},
    S.bound_tx: set(_ANY_BOUND),
    S.bound_rx: _SMSC_RX | _ANY_BOUND,
    S.bound_trx: _SMSC_RX | _ANY_BOUND,
    S.unbinding: set(),
    S.closed: set(),
}


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The peer answered ``request`` (possibly with a generic_nack)."""

    request: Request
    response: Pdu


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """The peer sent a request that is allowed now; it must be answered."""

    request: Request


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """The peer sent a request not allowed in this state; send ``response``."""

    request: Request
    response: Pdu


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    """A PDU that takes no response (outbind, alert_notification)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class UnexpectedResponse:
    """A response to no outstanding request (late after a timeout, or a peer's bug)."""

    response: Pdu


Event = (
    ResponseReceived | RequestReceived | RequestRefused | NotificationReceived | UnexpectedResponse
)


class Session:
    """One side of one SMPP link."""

    def __init__(self, role: Role, *, window: int = 10) -> None:
        if not 1 <= window <= 100_000:
            raise LocalProtocolError(f"window {window} must be between 1 and 100000")
        self.role = role
        self.window = window
        self.state = SessionState.open
        self._next_sequence = 1
        # sequence_number -> (request, monotonic time sent)
        self._outstanding: dict[int, tuple[Request, float]] = {}
        # The window, counted once: outstanding requests other than UNWINDOWED ones.
        self._windowed = 0

    @property
    def bound(self) -> bool:
        return self.state in (
            SessionState.bound_tx,
            SessionState.bound_rx,
            SessionState.bound_trx,
        )

    @property
    def can_transmit(self) -> bool:
        """Whether this end may originate messages now (submit_sm / deliver_sm)."""
        if self.role is Role.esme:
            return self.state in (SessionState.bound_tx, SessionState.bound_trx)
        return self.state in (SessionState.bound_rx, SessionState.bound_trx)

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._outstanding)

    @property
    def in_window(self) -> int:
        """Outstanding requests that count against the window."""
        return self._windowed

    @property
    def window_full(self) -> bool:
        return self._windowed >= self.window

    def allowed(self, command_id: CommandId) -> bool:
        """Whether this end may originate ``command_id`` in the current state."""
        return command_id in (_ESME_SENDS if self.role is Role.esme else _SMSC_SENDS)[self.state]

    def oldest_sent(self) -> float | None:
        """When the longest-outstanding request was sent (dicts keep insertion order)."""
        for _, sent in self._outstanding.values():
            return sent
        return None

    def send_request(self, request: Request, now: float) -> Request:
        """Number ``request`` and record it as outstanding; returns the PDU to encode.

        Raises :class:`LocalProtocolError` when this state does not allow it or the window is
        full (the asyncio layer waits for room before calling).
        """
        allowed = (_ESME_SENDS if self.role is Role.esme else _SMSC_SENDS)[self.state]
        if request.command_id not in allowed:
            raise LocalProtocolError(
                f"{request.command_id.name} is not allowed in state {self.state.value}"
            )
        windowed = request.command_id not in UNWINDOWED
        if windowed and self.window_full:
            raise LocalProtocolError(f"window of {self.window} outstanding requests is full")
        request = request.with_sequence(self._allocate_sequence())
        self._outstanding[request.sequence_number] = (request, now)
        self._windowed += windowed
        trigger = _ON_SEND.get(request.command_id)
        if trigger is not None:
            self.fire(trigger)
        return request

    def send_response(self, request: Request, response: Pdu) -> Pdu:
        """Record that we answer ``request`` with ``response`` (binds and unbinds move state)."""
        if response.sequence_number != request.sequence_number:
            raise LocalProtocolError("a response must carry its request's sequence_number")
        outcome = _ON_ANSWER.get(request.command_id)
        if outcome is not None:
            trigger = (
                outcome[0] if response.command_status == CommandStatus.ESME_ROK else outcome[1]
            )
            if trigger is not None:
                self.fire(trigger)
        return response

    def receive(self, pdu: Pdu) -> Event:
        """What an incoming PDU means in this session."""
        if pdu.is_response:
            return self._receive_response(pdu)
        if not isinstance(pdu, Request):
            return NotificationReceived(pdu)
        return self._receive_request(pdu)

    def cancel(self, sequence_number: int) -> None:
        """Forget a request that was numbered but never sent (it could not be encoded)."""
        self._give_up(sequence_number)

    def expired(self, now: float, timeout: float) -> list[Request]:
        """Remove and return the requests outstanding for longer than ``timeout`` seconds."""
        deadline = now - timeout
        late = [req for req, sent in self._outstanding.values() if sent <= deadline]
        for req in late:
            self._give_up(req.sequence_number)
        return late

    def abandon(self) -> list[Request]:
        """The link is gone: remove and return every outstanding request."""
        pending = [req for req, _ in self._outstanding.values()]
        self._outstanding.clear()
        self._windowed = 0
        self.fire(Trigger.link_closed)
        return pending

    def fire(self, trigger: Trigger) -> SessionState:
        """Move to the state :data:`TRANSITIONS` gives for ``trigger``; the only state setter.

        Raises :class:`LocalProtocolError` when the table has no such row: this end tried a
        change its state does not allow (the peer's faults are answered before this is asked).
        """
        try:
            self.state = TRANSITIONS[self.state, trigger]
        except KeyError:
            raise LocalProtocolError(
                f"{trigger.value}: no transition from state {self.state.value}"
            ) from None
        return self.state

    def _give_up(self, sequence_number: int) -> None:
        entry = self._forget(sequence_number)
        if entry is not None:
            trigger = _ON_GIVEN_UP.get(entry[0].command_id)
            if trigger is not None:
                self.fire(trigger)

    def _forget(self, sequence_number: int) -> tuple[Request, float] | None:
        entry = self._outstanding.pop(sequence_number, None)
        if entry is not None and entry[0].command_id not in UNWINDOWED:
            self._windowed -= 1
        return entry

    def _allocate_sequence(self) -> int:
        # Wrap to 1 after 0x7FFFFFFF (§5.1.4), never reusing a number still in flight.
        for _ in range(len(self._outstanding) + 1):
            sequence = self._next_sequence
            self._next_sequence = 1 if sequence >= MAX_SEQUENCE else sequence + 1
            if sequence not in self._outstanding:
                return sequence
        raise LocalProtocolError("no free sequence number")  # pragma: no cover

    def _receive_response(self, response: Pdu) -> Event:
        entry = self._outstanding.get(response.sequence_number)
        if entry is None:
            return UnexpectedResponse(response)
        request = entry[0]
        if not isinstance(response, GenericNack) and (
            response.command_id != request.command_id | 0x80000000
        ):
            # Keep waiting for the real answer; this one belongs to nothing we sent.
            return UnexpectedResponse(response)
        self._forget(response.sequence_number)
        outcome = _ON_RESPONSE.get(request.command_id)
        if outcome is not None:
            ok = response.command_status == CommandStatus.ESME_ROK and not isinstance(
                response, GenericNack
            )
            trigger = outcome[0] if ok else outcome[1]
            if trigger is not None:
                self.fire(trigger)
        return ResponseReceived(request, response)

    def _receive_request(self, request: Request) -> Event:
        peer_sends = (_SMSC_SENDS if self.role is Role.esme else _ESME_SENDS)[self.state]
        if request.command_id in peer_sends:
            if self.state is S.open:  # only a bind received moves the state (SMSC)
                trigger = _ON_RECEIVE.get(request.command_id)
                if trigger is not None:
                    self.fire(trigger)
            return RequestReceived(request)
        if request.command_id in _ON_RECEIVE and self.bound:
            return RequestRefused(request, request.response(CommandStatus.ESME_RALYBND))
        return RequestRefused(request, request.response(CommandStatus.ESME_RINVBNDSTS))
