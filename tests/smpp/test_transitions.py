"""Every row of the session's transition table, walked with bytes in and the state out.

Each row of :data:`mesiji.smpp.session.TRANSITIONS` is driven, for both roles, through a
:class:`SmppProtocol`: the PDUs that reach the row's start state, then the PDUs (received as
bytes, or sent) that fire its trigger; the state after is the row's.
"""

from __future__ import annotations

import pytest

from mesiji.errors import LocalProtocolError
from mesiji.smpp.codec import PduDecoder, encode
from mesiji.smpp.constants import CommandStatus
from mesiji.smpp.pdus import (
    Bind,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    Pdu,
    SubmitSm,
    Unbind,
    UnbindResp,
)
from mesiji.smpp.protocol import RequestReceived, SmppProtocol
from mesiji.smpp.session import TRANSITIONS, Role, Session, SessionState, Trigger

S, T = SessionState, Trigger
BIND_FOR = {
    T.bound_tx: BindTransmitter,
    T.bound_rx: BindReceiver,
    T.bound_trx: BindTransceiver,
}
STATE_FOR = {S.bound_tx: BindTransmitter, S.bound_rx: BindReceiver, S.bound_trx: BindTransceiver}


def sent(proto: SmppProtocol) -> list[Pdu]:
    decoder = PduDecoder()
    decoder.feed(proto.data_to_send())
    out = []
    while (pdu := decoder.next_pdu()) is not None:
        out.append(pdu)
    return out


def peer_request(proto: SmppProtocol) -> Bind:
    while (event := proto.next_event()) is not None:
        if isinstance(event, RequestReceived) and isinstance(event.request, Bind):
            return event.request
    raise AssertionError("no bind reached the SMSC")


def start_bind(proto: SmppProtocol, role: Role, kind: type[Bind]) -> None:
    """ESME: send ``kind``; SMSC: receive it as bytes. Either way: binding."""
    if role is Role.esme:
        proto.send(kind(system_id="esme", password="pw"))
    else:
        proto.receive_data(encode(kind(sequence_number=1, system_id="esme", password="pw")))
    sent(proto)


def answer_bind(proto: SmppProtocol, role: Role, kind: type[Bind], status: int) -> None:
    """ESME: receive the bind_resp as bytes; SMSC: answer the bind it received."""
    if role is Role.esme:
        response = kind(sequence_number=1).response(status)
        proto.receive_data(encode(response))
    else:
        request = peer_request(proto)
        proto.respond(request, request.response(status, system_id="SMSC"))
        [answer] = sent(proto)
        assert (answer.command_id, answer.command_status) == (
            kind.response_class.command_id,
            status,
        )


def reach(role: Role, state: SessionState, kind: type[Bind] = BindTransceiver) -> SmppProtocol:
    proto = SmppProtocol(role)
    if state is S.open:
        return proto
    if state is S.closed:
        proto.close("test")
        return proto
    if state in STATE_FOR:
        kind = STATE_FOR[state]
    start_bind(proto, role, kind)
    if state is not S.binding:
        answer_bind(proto, role, kind, CommandStatus.ESME_ROK)
        proto.next_event()
    if state is S.unbinding:
        proto.send(Unbind())
        sent(proto)
    assert proto.state is state
    return proto


def fire(proto: SmppProtocol, role: Role, trigger: Trigger, kind: type[Bind]) -> None:
    if trigger is T.bind:
        start_bind(proto, role, kind)
    elif trigger in BIND_FOR:
        answer_bind(proto, role, kind, CommandStatus.ESME_ROK)
    elif trigger is T.bind_refused:
        answer_bind(proto, role, kind, CommandStatus.ESME_RBINDFAIL)
    elif trigger is T.unbind:
        proto.send(Unbind())
        assert [p.command_id.name for p in sent(proto)] == ["unbind"]
    elif trigger is T.unbind_answered:
        [unbind] = [s for s in proto.session._outstanding.values() if isinstance(s[0], Unbind)]
        proto.receive_data(encode(UnbindResp(sequence_number=unbind[0].sequence_number)))
    elif trigger is T.peer_unbind_answered:
        proto.receive_data(encode(Unbind(sequence_number=77)))
        assert sent(proto) == [UnbindResp(sequence_number=77)]  # answered automatically
    else:
        assert trigger is T.link_closed
        proto.close("the link went")


ROWS = sorted(TRANSITIONS.items(), key=lambda row: (row[0][0].value, row[0][1].value))


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize(
    ("start", "trigger", "end"),
    [(s, t, e) for (s, t), e in ROWS],
    ids=[f"{s.value}-{t.name}-{e.value}" for (s, t), e in ROWS],
)
def test_every_row_of_the_table(
    role: Role, start: SessionState, trigger: Trigger, end: SessionState
) -> None:
    kind = BIND_FOR.get(trigger, BindTransceiver)
    proto = reach(role, start, kind)
    fire(proto, role, trigger, kind)
    assert proto.state is end


def test_every_missing_row_is_our_bug() -> None:
    for state in S:
        for trigger in T:
            if (state, trigger) in TRANSITIONS:
                continue
            session = Session(Role.esme)
            session.state = state
            with pytest.raises(LocalProtocolError, match="no transition"):
                session.fire(trigger)
            assert session.state is state


def test_a_second_bind_while_binding_is_ours_or_refused() -> None:
    esme = reach(Role.esme, S.binding)
    with pytest.raises(LocalProtocolError, match="not allowed in state binding"):
        esme.send(BindTransmitter())
    smsc = reach(Role.smsc, S.binding)
    smsc.receive_data(encode(BindTransmitter(sequence_number=2)))
    [refusal] = sent(smsc)
    assert (refusal.command_id.name, refusal.command_status, refusal.sequence_number) == (
        "bind_transmitter_resp",
        CommandStatus.ESME_RINVBNDSTS,
        2,
    )
    assert smsc.state is S.binding


def test_a_bind_once_bound_gets_ralybnd_and_changes_nothing() -> None:
    smsc = reach(Role.smsc, S.bound_trx)
    smsc.receive_data(encode(BindTransceiver(sequence_number=5)))
    [refusal] = sent(smsc)
    assert refusal.command_status == CommandStatus.ESME_RALYBND
    assert smsc.state is S.bound_trx


def test_a_bind_that_times_out_returns_the_esme_to_open() -> None:
    esme = SmppProtocol(Role.esme, response_timeout=5.0, now=0.0)
    esme.send(BindTransceiver(system_id="a"), now=0.0)
    esme.tick(5.0)
    states = [esme.state]
    esme.send(BindTransceiver(system_id="a"), now=5.0)  # may bind again
    states.append(esme.state)
    assert states == [S.open, S.binding]


def test_a_submit_before_the_bind_is_answered_is_refused_both_ways() -> None:
    with pytest.raises(LocalProtocolError, match="not allowed in state binding"):
        reach(Role.esme, S.binding).send(SubmitSm())
    smsc = reach(Role.smsc, S.binding)
    smsc.receive_data(encode(SubmitSm(sequence_number=3)))
    [refusal] = sent(smsc)
    assert (refusal.command_id.name, refusal.command_status) == (
        "submit_sm_resp",
        CommandStatus.ESME_RINVBNDSTS,
    )
