"""Properties of the SMPP 3.4 codec over generated PDUs, and fuzzing of the decoder.

* Any PDU of the 27 classes with valid field values survives ``decode(encode(p)) == p`` and
  encodes the same bytes again, alone or in a stream cut at arbitrary points.
* Any byte string, random or a mutated valid PDU, makes the decoder raise nothing but
  :class:`PduError`; when the mutation leaves command_length consistent, the decoder
  resynchronises on the next PDU (SMPP 3.4 §3.2).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesiji.errors import PduError
from mesiji.smpp import tlv
from mesiji.smpp.codec import PduDecoder, decode, encode
from mesiji.smpp.constants import CommandId
from mesiji.smpp.fields import (
    CString,
    DestAddresses,
    DistributionList,
    Field,
    Integer,
    ShortMessage,
    SmeAddress,
    UnsuccessSme,
    UnsuccessSmes,
)
from mesiji.smpp.pdus import PDU_CLASSES, EnquireLink, Pdu, SubmitSm
from mesiji.smpp.tlv import Tlv, TlvKind, TlvSpec

#: SMPP 3.4 §4.11.1, sequence_number 6: appended after fuzzed input to check resynchronising.
ENQUIRE_LINK = bytes.fromhex("00000010000000150000000000000006")
CLASSES: tuple[type[Pdu], ...] = tuple(sorted(PDU_CLASSES.values(), key=lambda c: c.__name__))
KNOWN_SPECS: tuple[TlvSpec[Any], ...] = tuple(sorted(tlv.SPECS.values(), key=lambda s: s.tag))
INT_SIZES = {TlvKind.int1: 1, TlvKind.int2: 2, TlvKind.int4: 4}
#: §4.5.1.1 / §4.5.2.1: destination_addr (21) and dl_name (21) include their NULL.
ADDR_CHARS = 20
#: Keeps generated TLVs and strings small; the limits themselves are tested elsewhere.
CAP = 80

# --- strategies ------------------------------------------------------------------------

#: C-Octet String content (§3.1): any Latin-1 character but NULL.
LATIN1 = st.characters(min_codepoint=1, max_codepoint=255)
U8S = st.integers(0, 0xFF)
U32S = st.integers(0, 0xFFFFFFFF)


def c_strings(max_chars: int, min_chars: int = 0) -> st.SearchStrategy[str]:
    return st.text(LATIN1, min_size=min_chars, max_size=max_chars)


SME_ADDRESSES = st.builds(SmeAddress, U8S, U8S, c_strings(ADDR_CHARS))
DISTRIBUTION_LISTS = st.builds(DistributionList, c_strings(ADDR_CHARS))
UNSUCCESS_SMES = st.builds(UnsuccessSme, U8S, U8S, c_strings(ADDR_CHARS), U32S)


def field_values(field: Field) -> st.SearchStrategy[Any]:
    """Valid values of one mandatory parameter, read from its layout in the class's body."""
    if isinstance(field, CString):
        if field.fixed is not None:
            # §7.1.1: a Time field is empty or exactly 16 characters.
            return st.one_of(st.just(""), c_strings(field.fixed, field.fixed))
        return c_strings(field.max_length - 1)
    if isinstance(field, Integer):
        return st.integers(0, (1 << (8 * field.size)) - 1)
    if isinstance(field, ShortMessage):
        return st.binary(max_size=254)  # §4.4.1
    if isinstance(field, DestAddresses):
        dests = st.one_of(SME_ADDRESSES, DISTRIBUTION_LISTS)
        return st.lists(dests, max_size=6).map(tuple)
    if isinstance(field, UnsuccessSmes):
        return st.lists(UNSUCCESS_SMES, max_size=6).map(tuple)
    raise AssertionError(f"no strategy for {field!r}")


def tlvs_of(spec: TlvSpec[Any]) -> st.SearchStrategy[Tlv]:
    """A TLV of a known parameter with a value valid for it (§5.3.2)."""
    if spec.kind is TlvKind.cstring:
        # The encoded length counts the NULL.
        chars = c_strings(min(spec.max_length - 1, CAP), max(spec.min_length - 1, 0))
        return chars.map(lambda value: Tlv(spec.tag, value))
    if spec.kind is TlvKind.octets:
        octets = st.binary(min_size=spec.min_length, max_size=min(spec.max_length, CAP))
        return octets.map(lambda value: Tlv(spec.tag, value))
    size = INT_SIZES[spec.kind]
    return st.integers(0, (1 << (8 * size)) - 1).map(lambda value: Tlv(spec.tag, value))


KNOWN_TLVS = st.sampled_from(KNOWN_SPECS).flatmap(tlvs_of)
#: Tags from 0x1400 up are vendor specific or unknown to SMPP 3.4 (§5.3.2): kept as octets.
UNKNOWN_TLVS = st.builds(Tlv, st.integers(0x1400, 0xFFFF), st.binary(max_size=40))
TLV_LISTS = st.lists(st.one_of(KNOWN_TLVS, UNKNOWN_TLVS), max_size=4).map(tuple)


def pdus_of(cls: type[Pdu]) -> st.SearchStrategy[Pdu]:
    fields = {name: field_values(field) for name, field in cls.body}
    return st.builds(cls, sequence_number=U32S, command_status=U32S, tlvs=TLV_LISTS, **fields)


ALL_PDUS = st.one_of([pdus_of(cls) for cls in CLASSES])

# --- helpers ---------------------------------------------------------------------------


def _consume(data: bytes) -> tuple[list[Pdu | PduError], bool]:
    """Everything a fresh decoder makes of ``data``, and whether it ended failed.

    Anything but a PduError propagates and fails the test. The decoder only raises once it
    has a whole header, so every error must carry command_id and sequence_number (§3.2).
    """
    decoder = PduDecoder()
    decoder.feed(data)
    results: list[Pdu | PduError] = []
    while True:
        before = decoder.buffered
        try:
            pdu = decoder.next_pdu()
        except PduError as exc:
            results.append(exc)
            if decoder.buffered == before:
                # A bad command_length: nothing was consumed and the decoder stays failed.
                with pytest.raises(PduError):
                    decoder.next_pdu()
                return results, True
            continue
        if pdu is None:
            return results, False
        results.append(pdu)


def _check_error(error: PduError) -> None:
    assert 0 <= error.command_status <= 0xFFFFFFFF
    assert error.command_id is not None
    assert error.sequence_number is not None


def _assert_stable(pdu: Pdu) -> None:
    """A PDU the decoder accepted either cannot be encoded (PduError) or round-trips."""
    try:
        data = encode(pdu)
    except PduError:
        return
    assert decode(data) == pdu


def _assert_only_pdu_errors(data: bytes) -> None:
    results, _ = _consume(data)
    for item in results:
        if isinstance(item, Pdu):
            _assert_stable(item)
        else:
            _check_error(item)


def _assert_resynchronises(data: bytes) -> None:
    """``data`` is one PDU-sized unit with a consistent command_length, then an enquire_link."""
    results, failed = _consume(data + ENQUIRE_LINK)
    assert not failed
    assert len(results) == 2, results
    assert results[1] == EnquireLink(sequence_number=6)
    if isinstance(results[0], Pdu):
        _assert_stable(results[0])
    else:
        _check_error(results[0])


def _with_length(data: bytes | bytearray) -> bytes:
    """``data`` with command_length set to its actual length."""
    return len(data).to_bytes(4, "big") + bytes(data[4:])


def _length_fields(pdu: Pdu) -> list[tuple[int, int]]:
    """(offset, size) of command_length, sm_length and every TLV length in ``encode(pdu)``."""
    fields = [(0, 4)]
    mandatory_end = len(encode(_without_tlvs(pdu)))
    short_message = getattr(pdu, "short_message", None)
    if isinstance(short_message, bytes):
        fields.append((mandatory_end - len(short_message) - 1, 1))
    data = encode(pdu)
    pos = mandatory_end
    while pos < len(data):
        fields.append((pos + 2, 2))
        pos += 4 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return fields


def _without_tlvs(pdu: Pdu) -> Pdu:
    values = {name: getattr(pdu, name) for name, _ in pdu.body}
    return type(pdu)(sequence_number=pdu.sequence_number, **values)


# --- round trip ------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_of_every_class(cls: type[Pdu], data: st.DataObject) -> None:
    pdu = data.draw(pdus_of(cls))
    wire = encode(pdu)
    assert int.from_bytes(wire[:4], "big") == len(wire)
    assert int.from_bytes(wire[4:8], "big") == cls.command_id
    assert int.from_bytes(wire[12:16], "big") == pdu.sequence_number
    again = decode(wire)
    assert type(again) is cls
    assert again == pdu
    assert encode(again) == wire


@settings(max_examples=500, deadline=None)
@given(ALL_PDUS)
def test_round_trip(pdu: Pdu) -> None:
    wire = encode(pdu)
    assert decode(wire) == pdu
    assert encode(decode(wire)) == wire


@settings(max_examples=150, deadline=None)
@given(st.lists(ALL_PDUS, min_size=1, max_size=8), st.data())
def test_stream_split_anywhere(pdus: list[Pdu], data: st.DataObject) -> None:
    stream = b"".join(encode(p) for p in pdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    decoder = PduDecoder()
    got: list[Pdu] = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        decoder.feed(stream[start:stop])
        while (pdu := decoder.next_pdu()) is not None:
            got.append(pdu)
    assert got == pdus
    assert decoder.buffered == 0


# --- fuzzing with hypothesis -----------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_pdu_error(data: bytes) -> None:
    _assert_only_pdu_errors(data)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(sorted(CommandId)), U32S, U32S, st.binary(max_size=200))
def test_random_body_behind_a_valid_header(
    command_id: int, command_status: int, sequence_number: int, body: bytes
) -> None:
    header = b"".join(
        n.to_bytes(4, "big") for n in (16 + len(body), command_id, command_status, sequence_number)
    )
    _assert_resynchronises(header + body)


@settings(max_examples=1000, deadline=None)
@given(ALL_PDUS, st.data())
def test_mutated_pdus_raise_only_pdu_error(pdu: Pdu, data: st.DataObject) -> None:
    wire = bytearray(encode(pdu))
    kind = data.draw(st.sampled_from(["flip", "truncate", "cut_body", "length_field"]))
    if kind == "flip":
        # Bit flips after command_length keep the PDU boundaries.
        for _ in range(data.draw(st.integers(1, 4))):
            index = data.draw(st.integers(4, len(wire) - 1))
            wire[index] ^= 1 << data.draw(st.integers(0, 7))
        _assert_resynchronises(bytes(wire))
    elif kind == "truncate":
        _assert_only_pdu_errors(bytes(wire[: data.draw(st.integers(0, len(wire)))]))
    elif kind == "cut_body":
        cut = data.draw(st.integers(16, len(wire)))
        _assert_resynchronises(_with_length(wire[:cut]))
    else:
        offset, size = data.draw(st.sampled_from(_length_fields(pdu)))
        value = data.draw(st.integers(0, (1 << (8 * size)) - 1))
        wire[offset : offset + size] = value.to_bytes(size, "big")
        if offset == 0:
            _assert_only_pdu_errors(bytes(wire) + ENQUIRE_LINK)
        else:
            _assert_resynchronises(bytes(wire))


def test_length_fields_are_found() -> None:
    pdu = SubmitSm(short_message=b"abc", tlvs=(Tlv(0x1401, b"xy"), Tlv.of(tlv.message_state, 2)))
    # 16 header + 17 fixed fields with empty strings (sm_length last) + 3 message octets.
    assert _length_fields(pdu) == [(0, 4), (32, 1), (38, 2), (44, 2)]


# --- a plain seeded mutation loop ------------------------------------------------------


def _random_text(rng: random.Random, max_chars: int) -> str:
    return "".join(chr(rng.randint(1, 255)) for _ in range(rng.randint(0, max_chars)))


def _random_value(field: Field, rng: random.Random) -> Any:
    if isinstance(field, CString):
        if field.fixed is not None:
            if rng.random() < 0.5:
                return ""
            return "".join(rng.choice("0123456789") for _ in range(15)) + rng.choice("+-R")
        return _random_text(rng, min(field.max_length - 1, 24))
    if isinstance(field, Integer):
        return rng.randrange(1 << (8 * field.size))
    if isinstance(field, ShortMessage):
        return rng.randbytes(rng.choice([0, 1, 5, 40, 160, 254]))
    if isinstance(field, DestAddresses):
        return tuple(
            SmeAddress(rng.randrange(256), rng.randrange(256), _random_text(rng, ADDR_CHARS))
            if rng.random() < 0.6
            else DistributionList(_random_text(rng, ADDR_CHARS))
            for _ in range(rng.randint(0, 4))
        )
    if isinstance(field, UnsuccessSmes):
        return tuple(
            UnsuccessSme(
                rng.randrange(256),
                rng.randrange(256),
                _random_text(rng, ADDR_CHARS),
                rng.randrange(1 << 32),
            )
            for _ in range(rng.randint(0, 4))
        )
    raise AssertionError(f"no generator for {field!r}")


def _random_tlv(rng: random.Random) -> Tlv:
    if rng.random() < 0.25:
        return Tlv(rng.randint(0x1400, 0xFFFF), rng.randbytes(rng.randint(0, 12)))
    spec = rng.choice(KNOWN_SPECS)
    if spec.kind is TlvKind.cstring:
        chars = rng.randint(max(spec.min_length - 1, 0), min(spec.max_length - 1, 30))
        return Tlv(spec.tag, "".join(chr(rng.randint(1, 255)) for _ in range(chars)))
    if spec.kind is TlvKind.octets:
        return Tlv(spec.tag, rng.randbytes(rng.randint(spec.min_length, min(spec.max_length, 30))))
    return Tlv(spec.tag, rng.randrange(1 << (8 * INT_SIZES[spec.kind])))


def _random_pdu(cls: type[Pdu], rng: random.Random) -> Pdu:
    values = {name: _random_value(field, rng) for name, field in cls.body}
    tlvs = tuple(_random_tlv(rng) for _ in range(rng.randint(0, 3)))
    return cls(sequence_number=rng.randrange(1 << 32), tlvs=tlvs, **values)


@pytest.mark.slow
def test_seeded_mutation_loop() -> None:
    rng = random.Random(1234)
    corpus = [encode(_random_pdu(cls, rng)) for cls in CLASSES for _ in range(8)]
    for base in corpus:
        assert decode(base) is not None
    command_ids = sorted(CommandId)
    outcomes = {"pdu": 0, "error": 0, "failed": 0}
    for _ in range(20_000):
        wire = bytearray(rng.choice(corpus))
        kind = rng.randrange(8)
        consistent = True
        if kind == 0:  # bit flips after command_length
            for _ in range(rng.randint(1, 4)):
                wire[rng.randrange(4, len(wire))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # random octets after command_length
            for _ in range(rng.randint(1, 3)):
                wire[rng.randrange(4, len(wire))] = rng.randrange(256)
        elif kind == 2:  # body cut short, command_length adjusted
            wire = bytearray(_with_length(wire[: rng.randint(16, len(wire))]))
        elif kind == 3:  # octets inserted into the body, command_length adjusted
            at = rng.randint(16, len(wire))
            wire[at:at] = rng.randbytes(rng.randint(1, 6))
            wire = bytearray(_with_length(wire))
        elif kind == 4:  # an octet deleted from the body, command_length adjusted
            if len(wire) > 16:
                del wire[rng.randrange(16, len(wire))]
            wire = bytearray(_with_length(wire))
        elif kind == 5:  # another command_id on the same body
            wire[4:8] = rng.choice(command_ids).to_bytes(4, "big")
        elif kind == 6:  # command_length off by a little, or anything
            consistent = False
            length = int.from_bytes(wire[:4], "big")
            if rng.random() < 0.5:
                length = max(0, length + rng.choice([-16, -3, -1, 1, 2, 17]))
            else:
                length = rng.randrange(1 << 32)
            wire[:4] = length.to_bytes(4, "big")
        else:  # plain truncation: the next PDU's octets become part of this one
            consistent = False
            wire = wire[: rng.randrange(len(wire))]
        if consistent:
            _assert_resynchronises(bytes(wire))
        else:
            results, failed = _consume(bytes(wire) + ENQUIRE_LINK)
            outcomes["failed"] += failed
        results, _ = _consume(bytes(wire))
        for item in results:
            outcomes["pdu" if isinstance(item, Pdu) else "error"] += 1
    # The loop exercised both the accepting and the rejecting paths.
    assert outcomes["pdu"] > 1000
    assert outcomes["error"] > 1000
    assert outcomes["failed"] > 100
