"""Reassembly of concatenated incoming messages, with time passed in by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesiji.errors import TextError
from mesiji.text import (
    ConcatInfo,
    ConcatMethod,
    DropReason,
    Reassembler,
    SarInfo,
    concat_info_from,
    decode_text,
    split_text,
)

KEY = ("995599000001", "4000")
GEORGIAN_200 = ("გამარჯობა საქართველო " * 10)[:200]


def test_parts_in_order() -> None:
    reassembler = Reassembler()
    assert reassembler.add(KEY, 7, 3, 1, b"ab", now=0.0) is None
    assert reassembler.add(KEY, 7, 3, 2, b"cd", now=1.0) is None
    assert reassembler.add(KEY, 7, 3, 3, b"e", now=2.0) == b"abcde"
    assert len(reassembler) == 0


def test_parts_out_of_order_with_duplicates() -> None:
    reassembler = Reassembler()
    assert reassembler.add(KEY, 7, 3, 3, b"e", now=0.0) is None
    assert reassembler.add(KEY, 7, 3, 1, b"ab", now=0.0) is None
    assert reassembler.add(KEY, 7, 3, 1, b"XX", now=0.0) is None  # duplicate: first copy kept
    assert reassembler.add(KEY, 7, 3, 2, b"cd", now=0.0) == b"abcde"


def test_duplicate_after_completion_is_ignored() -> None:
    reassembler = Reassembler(timeout=60.0)
    reassembler.add(KEY, 7, 2, 1, b"ab", now=0.0)
    assert reassembler.add(KEY, 7, 2, 2, b"cd", now=1.0) == b"abcd"
    # An SMSC redelivers part 1 because our deliver_sm_resp got lost.
    assert reassembler.add(KEY, 7, 2, 1, b"ab", now=30.0) is None
    assert len(reassembler) == 0
    assert reassembler.expire(now=1000.0) == []


def test_reused_reference_with_new_content_is_a_new_message() -> None:
    reassembler = Reassembler(timeout=60.0)
    reassembler.add(KEY, 7, 2, 1, b"ab", now=0.0)
    assert reassembler.add(KEY, 7, 2, 2, b"cd", now=1.0) == b"abcd"
    assert reassembler.add(KEY, 7, 2, 1, b"new", now=2.0) is None
    assert reassembler.add(KEY, 7, 2, 2, b"cd", now=3.0) == b"newcd"


def test_same_content_after_the_timeout_is_a_new_message() -> None:
    reassembler = Reassembler(timeout=60.0)
    reassembler.add(KEY, 7, 2, 1, b"ab", now=0.0)
    assert reassembler.add(KEY, 7, 2, 2, b"cd", now=1.0) == b"abcd"
    assert reassembler.add(KEY, 7, 2, 1, b"ab", now=62.0) is None
    assert reassembler.add(KEY, 7, 2, 2, b"cd", now=63.0) == b"abcd"


def test_single_part_message_passes_straight_through() -> None:
    reassembler = Reassembler()
    assert reassembler.add(KEY, 0, 1, 1, b"whole", now=0.0) == b"whole"
    assert len(reassembler) == 0


def test_keys_and_references_do_not_mix() -> None:
    reassembler = Reassembler()
    assert reassembler.add("alice", 1, 2, 1, b"a1", now=0.0) is None
    assert reassembler.add("bob", 1, 2, 1, b"b1", now=0.0) is None
    assert reassembler.add("alice", 2, 2, 1, b"x1", now=0.0) is None
    assert reassembler.add("bob", 1, 2, 2, b"b2", now=0.0) == b"b1b2"
    assert reassembler.add("alice", 1, 2, 2, b"a2", now=0.0) == b"a1a2"
    assert len(reassembler) == 1


def test_changed_total_starts_over() -> None:
    reassembler = Reassembler()
    assert reassembler.add(KEY, 7, 3, 1, b"old", now=0.0) is None
    assert reassembler.add(KEY, 7, 2, 2, b"new2", now=1.0) is None
    assert reassembler.add(KEY, 7, 2, 1, b"new1", now=1.0) == b"new1new2"
    (dropped,) = reassembler.expire(now=1.0)
    assert dropped.reason is DropReason.superseded
    assert dropped.parts == ((1, b"old"),)
    assert (dropped.key, dropped.reference, dropped.total) == (KEY, 7, 3)


def test_expire_after_timeout() -> None:
    reassembler = Reassembler(timeout=60.0)
    reassembler.add(KEY, 7, 3, 2, b"cd", now=100.0)
    reassembler.add(KEY, 7, 3, 1, b"ab", now=150.0)
    assert reassembler.expire(now=160.0) == []  # exactly the timeout: not older than it
    (dropped,) = reassembler.expire(now=160.5)
    assert dropped.reason is DropReason.expired
    assert dropped.parts == ((1, b"ab"), (2, b"cd"))
    assert dropped.started == 100.0
    assert len(reassembler) == 0
    assert reassembler.expire(now=1000.0) == []


def test_part_after_timeout_starts_a_new_group() -> None:
    reassembler = Reassembler(timeout=10.0)
    reassembler.add(KEY, 7, 2, 1, b"stale", now=0.0)
    assert reassembler.add(KEY, 7, 2, 2, b"late", now=11.0) is None
    assert reassembler.add(KEY, 7, 2, 1, b"fresh", now=12.0) == b"freshlate"
    (dropped,) = reassembler.expire(now=12.0)
    assert (dropped.reason, dropped.parts) == (DropReason.expired, ((1, b"stale"),))


def test_oldest_group_evicted_when_full() -> None:
    reassembler = Reassembler(max_groups=2)
    reassembler.add("a", 1, 2, 1, b"a", now=0.0)
    reassembler.add("b", 1, 2, 1, b"b", now=1.0)
    reassembler.add("c", 1, 2, 1, b"c", now=2.0)
    assert len(reassembler) == 2
    (dropped,) = reassembler.expire(now=3.0)
    assert (dropped.key, dropped.reason) == ("a", DropReason.evicted)
    assert reassembler.add("b", 1, 2, 2, b"2", now=3.0) == b"b2"
    assert reassembler.add("a", 1, 2, 2, b"2", now=3.0) is None  # its group is gone


@pytest.mark.parametrize(("total", "seqnum"), [(0, 1), (256, 1), (3, 0), (3, 4)])
def test_add_rejects_bad_numbers(total: int, seqnum: int) -> None:
    with pytest.raises(TextError):
        Reassembler().add(KEY, 1, total, seqnum, b"x", now=0.0)


@pytest.mark.parametrize("kwargs", [{"timeout": 0.0}, {"max_groups": 0}])
def test_constructor_rejects_bad_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(TextError):
        Reassembler(**kwargs)  # type: ignore[arg-type]


def test_concat_info_from_udh_sar_and_plain() -> None:
    udh = bytes.fromhex("0500032a0302")
    assert concat_info_from(udh + b"hi", udhi=True) == (ConcatInfo(0x2A, 3, 2), b"hi")
    sar = SarInfo(0x1234, 2, 1)
    assert concat_info_from(b"hi", udhi=False, sar=sar) == (ConcatInfo(0x1234, 2, 1), b"hi")
    assert concat_info_from(b"hi", udhi=False) == (None, b"hi")
    assert concat_info_from(b"hi", udhi=False, sar=SarInfo(1, 2, 3)) == (None, b"hi")
    with pytest.raises(TextError):
        concat_info_from(b"\x09short", udhi=True)


@pytest.mark.parametrize("method", [ConcatMethod.udh8, ConcatMethod.udh16, ConcatMethod.sar])
def test_georgian_message_split_and_reassembled(method: ConcatMethod) -> None:
    parts = split_text(GEORGIAN_200, method=method, reference=0x42)
    reassembler = Reassembler()
    results = []
    for part in reversed(parts):
        concat, payload = concat_info_from(part.short_message, udhi=part.udhi, sar=part.sar)
        assert concat is not None
        results.append(
            reassembler.add(KEY, concat.reference, concat.total, concat.seqnum, payload, now=0.0)
        )
    assert results[:-1] == [None] * (len(parts) - 1)
    whole = results[-1]
    assert whole is not None
    assert decode_text(whole, parts[0].data_coding) == GEORGIAN_200


@given(
    st.lists(st.binary(max_size=20), min_size=2, max_size=12),
    st.integers(0, 0xFFFF),
    st.data(),
)
def test_any_order_with_duplicates(
    payloads: list[bytes], reference: int, data: st.DataObject
) -> None:
    total = len(payloads)
    order = data.draw(st.permutations(range(1, total + 1)))
    repeats = data.draw(st.lists(st.integers(1, total), max_size=total))
    # Duplicates go anywhere, including after the part they repeat and after completion.
    feed = list(order)
    for seqnum in repeats:
        feed.insert(data.draw(st.integers(0, len(feed))), seqnum)
    reassembler = Reassembler()
    seen: set[int] = set()
    completions = []
    for step, seqnum in enumerate(feed):
        result = reassembler.add(KEY, reference, total, seqnum, payloads[seqnum - 1], now=step)
        seen.add(seqnum)
        if result is not None:
            completions.append(result)
            assert len(seen) == total  # complete exactly when the last missing part arrives
    assert completions == [b"".join(payloads)]
    assert len(reassembler) == 0
    assert reassembler.expire(now=len(feed)) == []
