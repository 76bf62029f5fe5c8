"""The sans-I/O SmppProtocol: bytes and time in, events and bytes out; the window counted once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesiji.errors import LocalProtocolError
from mesiji.smpp.codec import PduDecoder, encode
from mesiji.smpp.constants import CommandId, CommandStatus
from mesiji.smpp.pdus import (
    BindTransceiver,
    BindTransceiverResp,
    EnquireLink,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from mesiji.smpp.protocol import (
    Answered,
    Closed,
    Event,
    LinkDead,
    PeerProtocolError,
    RequestReceived,
    SmppProtocol,
    TimedOut,
)
from mesiji.smpp.session import Role, SessionState

ENQUIRE_LINK = bytes.fromhex("00000010000000150000000000000006")


def wire(proto: SmppProtocol) -> list[tuple[str, int]]:
    """The PDUs the protocol wants sent, decoded: (command name, sequence_number)."""
    decoder = PduDecoder()
    decoder.feed(proto.data_to_send())
    out = []
    while (pdu := decoder.next_pdu()) is not None:
        out.append((pdu.command_id.name, pdu.sequence_number))
    return out


def events(proto: SmppProtocol) -> list[Event]:
    out = []
    while (event := proto.next_event()) is not None:
        out.append(event)
    return out


def bound(window: int, *, interval: float = 30.0, timeout: float = 10.0) -> SmppProtocol:
    proto = SmppProtocol(
        Role.esme, window=window, enquire_link_interval=interval, response_timeout=timeout
    )
    proto.send(BindTransceiver(system_id="t", password="p"), token="bind", now=0.0)
    assert wire(proto) == [("bind_transceiver", 1)]
    proto.receive_data(encode(BindTransceiverResp(sequence_number=1, system_id="s")), 0.0)
    assert [type(e) for e in events(proto)] == [Answered]
    assert proto.state is SessionState.bound_trx
    return proto


def a_submit() -> SubmitSm:
    return SubmitSm(destination_addr="995599123456", short_message=b"hi")


def resp(sequence: int, status: int = 0) -> bytes:
    return encode(SubmitSmResp(sequence_number=sequence, command_status=status, message_id="A"))


@pytest.mark.parametrize("window", [1, 2])
def test_keepalive_does_not_take_a_window_slot(window: int) -> None:
    # The reported bug: window=1, a submit in flight, an enquire_link sent, the next submit
    # raised LocalProtocolError. enquire_link never counts against the window.
    proto = bound(window, interval=30.0, timeout=60.0)
    for _ in range(window):
        proto.send(a_submit(), token="s", now=1.0)
    assert not proto.can_send()
    proto.tick(31.0)
    assert wire(proto) == [("submit_sm", 2 + i) for i in range(window)] + [
        ("enquire_link", 2 + window)
    ]
    assert events(proto) == []  # nothing timed out: the slots are still taken
    proto.receive_data(resp(2), 31.5)
    assert [type(e) for e in events(proto)] == [Answered]
    assert proto.can_send()
    proto.send(a_submit(), token="next", now=31.5)
    assert wire(proto) == [("submit_sm", 3 + window)]
    with pytest.raises(LocalProtocolError, match="window"):
        proto.send(a_submit(), now=31.5)


def test_enquire_link_goes_out_with_a_full_window_and_an_answer_keeps_the_link() -> None:
    proto = bound(1, interval=30.0, timeout=10.0)
    sent = proto.send(a_submit(), token="s", now=0.0)
    wire(proto)
    assert proto.next_deadline() == 10.0  # the submit's response timeout comes first
    proto.tick(10.0)
    assert events(proto) == [TimedOut(sent, "s")]
    assert proto.can_send()  # the timed-out request freed its slot
    proto.tick(30.0)
    assert wire(proto) == [("enquire_link", 3)]
    proto.receive_data(encode(EnquireLink(sequence_number=3).response()), 30.1)
    assert events(proto) == []  # the keepalive's answer is the protocol's own business
    assert proto.next_deadline() == pytest.approx(60.1)


def test_unanswered_enquire_link_is_a_dead_link_and_abandons_the_window() -> None:
    proto = bound(2, interval=30.0, timeout=10.0)
    proto.tick(30.0)
    proto.send(a_submit(), token="s", now=35.0)
    assert wire(proto) == [("enquire_link", 2), ("submit_sm", 3)]
    proto.tick(40.0)
    got = events(proto)
    assert isinstance(got[0], LinkDead)
    assert got[1] == Closed(got[0].reason, ("s",))
    assert proto.closed
    assert proto.next_deadline() is None


def test_response_timeout_reports_the_request_and_its_token() -> None:
    proto = bound(2, timeout=5.0)
    sent = proto.send(a_submit(), token="mine", now=1.0)
    proto.tick(5.9)
    assert events(proto) == []
    proto.tick(6.0)
    assert events(proto) == [TimedOut(sent, "mine")]
    proto.receive_data(resp(sent.sequence_number), 6.5)  # a late answer
    assert [type(e) for e in events(proto)] == [PeerProtocolError]


def test_unbind_while_requests_are_in_flight() -> None:
    proto = bound(2)
    proto.send(a_submit(), token="a", now=1.0)
    proto.send(a_submit(), token="b", now=1.0)
    assert not proto.can_send()
    proto.send(Unbind(), token="unbind", now=1.0)  # unbind never waits for the window
    assert proto.state is SessionState.unbinding
    assert wire(proto) == [("submit_sm", 2), ("submit_sm", 3), ("unbind", 4)]
    proto.receive_data(resp(2) + encode(Unbind(sequence_number=4).response()), 1.5)
    got = events(proto)
    assert [type(e) for e in got] == [Answered, Answered, Closed]
    assert got[2] == Closed("unbound", ("b",))


def test_peer_unbind_is_answered_and_closes() -> None:
    proto = bound(1)
    proto.receive_data(encode(Unbind(sequence_number=9)), 2.0)
    assert wire(proto) == [("unbind_resp", 9)]
    assert events(proto) == [Closed("unbound by peer", ())]


@pytest.mark.parametrize("split", ["whole", "bytewise", "trailing"])
def test_enquire_link_vector_is_answered(split: str) -> None:
    proto = bound(1)
    if split == "whole":
        proto.receive_data(ENQUIRE_LINK, 1.0)
    elif split == "bytewise":
        for byte in ENQUIRE_LINK:
            proto.receive_data(bytes([byte]), 1.0)
    else:
        proto.receive_data(ENQUIRE_LINK + ENQUIRE_LINK[:7], 1.0)
    assert proto.data_to_send() == bytes.fromhex("00000010800000150000000000000006")
    assert events(proto) == []


def test_undecodable_pdu_gets_generic_nack_and_a_peer_error() -> None:
    proto = bound(1)
    proto.receive_data(bytes.fromhex("0000001000000777000000000000000a"), 1.0)
    assert proto.data_to_send() == bytes.fromhex("0000001080000000000000030000000a")
    assert [type(e) for e in events(proto)] == [PeerProtocolError]


def test_request_not_allowed_in_state_gets_rinvbndsts() -> None:
    proto = SmppProtocol(Role.smsc)
    proto.receive_data(encode(a_submit().with_sequence(5)), 0.0)
    data = proto.data_to_send()
    assert data[4:8] == (CommandId.submit_sm_resp).to_bytes(4, "big")
    assert int.from_bytes(data[8:12], "big") == CommandStatus.ESME_RINVBNDSTS
    assert [type(e) for e in events(proto)] == [PeerProtocolError]


def test_peer_request_is_an_event_and_misuse_is_local() -> None:
    proto = SmppProtocol(Role.smsc)
    proto.receive_data(encode(BindTransceiver(sequence_number=1, system_id="t")), 0.0)
    (event,) = events(proto)
    assert isinstance(event, RequestReceived)
    proto.respond(event.request)
    assert wire(proto) == [("bind_transceiver_resp", 1)]
    with pytest.raises(LocalProtocolError):
        SmppProtocol(Role.esme).send(a_submit())  # not bound


def test_sequence_numbers_wrap_at_0x7fffffff() -> None:
    proto = bound(2)
    proto.session._next_sequence = 0x7FFFFFFF
    proto.send(a_submit(), now=1.0)
    proto.send(a_submit(), now=1.0)
    assert wire(proto) == [("submit_sm", 0x7FFFFFFF), ("submit_sm", 1)]


_STEP = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 0)),
    st.tuples(st.just("answer"), st.integers(0, 20)),
    st.tuples(st.just("time"), st.integers(1, 40)),
)


@settings(max_examples=200, deadline=None)
@given(window=st.integers(1, 4), steps=st.lists(_STEP, max_size=60))
def test_random_interleavings_keep_the_window_and_unique_sequences(
    window: int, steps: list[tuple[str, int]]
) -> None:
    proto = bound(window, interval=25.0, timeout=10.0)
    now = 0.0
    in_flight: dict[int, str] = {}
    for kind, value in steps:
        if proto.closed:
            break
        if kind == "send" and proto.can_send():
            sent = proto.send(a_submit(), token="x", now=now)
            assert sent.sequence_number not in in_flight
            in_flight[sent.sequence_number] = "submit_sm"
        elif kind == "answer" and in_flight:
            sequence = sorted(in_flight)[value % len(in_flight)]
            pdu: Pdu = SubmitSmResp(sequence_number=sequence, message_id="A")
            if in_flight[sequence] == "enquire_link":
                pdu = EnquireLink(sequence_number=sequence).response()
            proto.receive_data(encode(pdu), now)
            del in_flight[sequence]
        elif kind == "time":
            now += value
            proto.tick(now)
        for name, sequence in wire(proto):
            if name == "enquire_link":
                assert sequence not in in_flight
                in_flight[sequence] = name
        for event in events(proto):
            if isinstance(event, TimedOut):
                del in_flight[event.request.sequence_number]
        expired = [s for s in in_flight if s not in proto.session._outstanding]
        for sequence in expired:
            del in_flight[sequence]
        assert proto.session.in_window <= window
        assert sum(1 for name in in_flight.values() if name == "submit_sm") <= window
