"""The sans-I/O session rules: states, sequence numbers, window, timeouts (SMPP 3.4 §2)."""

from __future__ import annotations

import pytest

from mesiji.errors import LocalProtocolError
from mesiji.smpp.constants import CommandStatus
from mesiji.smpp.pdus import (
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DeliverSm,
    EnquireLink,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from mesiji.smpp.session import (
    MAX_SEQUENCE,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    Role,
    Session,
    SessionState,
    UnexpectedResponse,
)


def bound_esme(window: int = 10) -> Session:
    session = Session(Role.esme, window=window)
    bind = session.send_request(BindTransceiver(system_id="a"), now=0.0)
    session.receive(BindTransceiverResp(sequence_number=bind.sequence_number))
    return session


def state_of(session: Session) -> SessionState:
    # read through a call so the type checker does not narrow across state changes
    return session.state


def test_bind_moves_the_esme_to_bound_trx() -> None:
    session = Session(Role.esme)
    bind = session.send_request(BindTransceiver(system_id="a"), now=0.0)
    assert bind.sequence_number == 1
    assert session.state is SessionState.binding
    event = session.receive(BindTransceiverResp(sequence_number=1))
    assert isinstance(event, ResponseReceived)
    assert event.request == bind
    assert state_of(session) is SessionState.bound_trx
    assert session.can_transmit


def test_refused_bind_leaves_the_session_open() -> None:
    session = Session(Role.esme)
    session.send_request(BindTransmitter(), now=0.0)
    session.receive(
        BindTransmitterResp(sequence_number=1, command_status=CommandStatus.ESME_RINVPASWD)
    )
    assert session.state is SessionState.open


def test_submit_before_bind_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="not allowed in state open"):
        Session(Role.esme).send_request(SubmitSm(), now=0.0)


def test_smsc_refuses_submit_before_bind_with_rinvbndsts() -> None:
    smsc = Session(Role.smsc)
    event = smsc.receive(SubmitSm(sequence_number=9))
    assert isinstance(event, RequestRefused)
    assert event.response == SubmitSmResp(
        sequence_number=9, command_status=CommandStatus.ESME_RINVBNDSTS
    )


def test_smsc_binds_when_it_answers_ok_and_refuses_a_second_bind() -> None:
    smsc = Session(Role.smsc)
    bind = BindTransceiver(sequence_number=1, system_id="a")
    assert isinstance(smsc.receive(bind), RequestReceived)
    smsc.send_response(bind, bind.response(system_id="SIM"))
    assert smsc.state is SessionState.bound_trx
    event = smsc.receive(BindTransceiver(sequence_number=2))
    assert isinstance(event, RequestRefused)
    assert event.response.command_status == CommandStatus.ESME_RALYBND


def test_window_limits_outstanding_requests() -> None:
    session = bound_esme(window=2)
    first = session.send_request(SubmitSm(), now=1.0)
    session.send_request(SubmitSm(), now=1.0)
    assert session.window_full
    with pytest.raises(LocalProtocolError, match="window"):
        session.send_request(SubmitSm(), now=1.0)
    session.receive(SubmitSmResp(sequence_number=first.sequence_number, message_id="1"))
    assert not session.window_full
    assert session.outstanding == 1


def test_sequence_numbers_wrap_and_skip_numbers_in_flight() -> None:
    session = bound_esme(window=5)
    session._next_sequence = MAX_SEQUENCE
    last = session.send_request(SubmitSm(), now=0.0)
    assert last.sequence_number == MAX_SEQUENCE
    wrapped = session.send_request(SubmitSm(), now=0.0)
    assert wrapped.sequence_number == 1  # 1 was the bind, answered long ago
    session._next_sequence = MAX_SEQUENCE  # MAX_SEQUENCE and 1 are both still in flight
    assert session.send_request(SubmitSm(), now=0.0).sequence_number == 2


def test_response_to_nothing_is_unexpected_and_changes_nothing() -> None:
    session = bound_esme()
    assert isinstance(session.receive(SubmitSmResp(sequence_number=77)), UnexpectedResponse)
    assert session.state is SessionState.bound_trx


def test_response_of_the_wrong_kind_keeps_the_request_outstanding() -> None:
    session = bound_esme()
    sent = session.send_request(SubmitSm(), now=0.0)
    event = session.receive(UnbindResp(sequence_number=sent.sequence_number))
    assert isinstance(event, UnexpectedResponse)
    assert session.outstanding == 1


def test_generic_nack_answers_the_request_with_its_sequence() -> None:
    session = bound_esme()
    sent = session.send_request(SubmitSm(), now=0.0)
    nack = GenericNack(
        sequence_number=sent.sequence_number, command_status=CommandStatus.ESME_RINVCMDLEN
    )
    event = session.receive(nack)
    assert isinstance(event, ResponseReceived)
    assert event.response == nack


def test_expired_returns_only_late_requests() -> None:
    session = bound_esme()
    early = session.send_request(SubmitSm(), now=10.0)
    session.send_request(EnquireLink(), now=14.0)
    assert session.expired(now=18.0, timeout=5.0) == [early]
    assert session.outstanding == 1


def test_esme_receives_deliver_sm_when_bound_as_transceiver() -> None:
    session = bound_esme()
    event = session.receive(DeliverSm(sequence_number=5))
    assert isinstance(event, RequestReceived)


def test_unbind_round_trip_closes() -> None:
    session = bound_esme()
    unbind = session.send_request(Unbind(), now=0.0)
    assert session.state is SessionState.unbinding
    session.receive(UnbindResp(sequence_number=unbind.sequence_number))
    assert state_of(session) is SessionState.closed


def test_peer_unbind_closes_after_our_response() -> None:
    session = bound_esme()
    unbind = Unbind(sequence_number=3)
    assert isinstance(session.receive(unbind), RequestReceived)
    session.send_response(unbind, unbind.response())
    assert session.state is SessionState.closed


def test_abandon_returns_everything_outstanding() -> None:
    session = bound_esme()
    sent = [session.send_request(SubmitSm(), now=0.0) for _ in range(3)]
    assert session.abandon() == sent
    assert session.state is SessionState.closed
