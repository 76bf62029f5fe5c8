"""Reassembly of concatenated incoming (mobile-originated) messages.

Parts of one message share a reference number (3GPP TS 23.040 §9.2.3.24.1, or SMPP 3.4's
sar_msg_ref_num) that is unique only per sender, so callers group them under a ``key`` of their
choosing, typically (source address, destination address). The reassembler holds no clock:
every call takes ``now``, seconds on a monotonic clock, so tests drive time by hand.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import StrEnum

from mesiji.errors import TextError
from mesiji.text.segments import SarInfo
from mesiji.text.udh import ConcatInfo, parse_udh

__all__ = ["DropReason", "DroppedGroup", "Reassembler", "concat_info_from"]


class DropReason(StrEnum):
    """Why an incomplete group was given up."""

    #: No part completed it within the timeout.
    expired = "expired"
    #: Too many groups were pending; the oldest made room.
    evicted = "evicted"
    #: A part with the same key and reference announced another total: a new message.
    superseded = "superseded"


@dataclass(frozen=True)
class DroppedGroup:
    """An incomplete message given up, with the parts that did arrive."""

    key: Hashable
    reference: int
    total: int
    #: (seqnum, payload) pairs in seqnum order.
    parts: tuple[tuple[int, bytes], ...]
    started: float
    reason: DropReason


@dataclass
class _Group:
    total: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    """Collects the parts of concatenated messages and hands back each whole payload once.

    ``timeout`` seconds after its first part, an incomplete group is dropped; at most
    ``max_groups`` groups are pending, the oldest being evicted for a new one. Groups dropped by
    eviction, by a changed total or by going stale are reported by the next :meth:`expire`.

    SMSCs redeliver a deliver_sm whose response got lost, so a completed group is remembered for
    ``timeout`` seconds: a part identical to one it had is a duplicate and ignored, while a part
    with other content under the same reference starts a new message.
    """

    def __init__(self, *, timeout: float = 300.0, max_groups: int = 10_000) -> None:
        if timeout <= 0:
            raise TextError(f"reassembly timeout must be positive, not {timeout}")
        if max_groups < 1:
            raise TextError(f"max_groups must be at least 1, not {max_groups}")
        self.timeout = timeout
        self.max_groups = max_groups
        self._groups: dict[tuple[Hashable, int], _Group] = {}
        # Completed groups, ``started`` being the completion time; oldest first.
        self._completed: dict[tuple[Hashable, int], _Group] = {}
        self._dropped: deque[DroppedGroup] = deque(maxlen=max_groups)

    def __len__(self) -> int:
        """The number of incomplete groups pending."""
        return len(self._groups)

    def _drop(self, group_key: tuple[Hashable, int], reason: DropReason) -> DroppedGroup:
        group = self._groups.pop(group_key)
        return DroppedGroup(
            key=group_key[0],
            reference=group_key[1],
            total=group.total,
            parts=tuple(sorted(group.parts.items())),
            started=group.started,
            reason=reason,
        )

    def add(
        self, key: Hashable, reference: int, total: int, seqnum: int, payload: bytes, *, now: float
    ) -> bytes | None:
        """Record one part; return the whole payload, parts joined in seqnum order, once complete.

        A repeated part is ignored (the first copy is kept). A part whose ``total`` differs from
        its group's starts the group over, as does a part arriving after the group timed out.
        Raises TextError when ``total`` is not 1..255 or ``seqnum`` not 1..``total``.
        """
        if not 1 <= total <= 0xFF:
            raise TextError(f"a concatenated message has 1 to 255 parts, not {total}")
        if not 1 <= seqnum <= total:
            raise TextError(f"part number {seqnum} is not within 1..{total}")
        if total == 1:
            return payload
        group_key = (key, reference)
        group = self._groups.get(group_key)
        if group is not None:
            if group.total != total:
                self._dropped.append(self._drop(group_key, DropReason.superseded))
                group = None
            elif now - group.started > self.timeout:
                self._dropped.append(self._drop(group_key, DropReason.expired))
                group = None
        if group is None and self._is_late_duplicate(group_key, total, seqnum, payload, now):
            return None
        if group is None:
            if len(self._groups) >= self.max_groups:
                oldest = next(iter(self._groups))
                self._dropped.append(self._drop(oldest, DropReason.evicted))
            group = self._groups[group_key] = _Group(total, now)
        group.parts.setdefault(seqnum, payload)
        if len(group.parts) < total:
            return None
        del self._groups[group_key]
        self._remember_completed(group_key, group, now)
        return b"".join(group.parts[n] for n in range(1, total + 1))

    def _is_late_duplicate(
        self, group_key: tuple[Hashable, int], total: int, seqnum: int, payload: bytes, now: float
    ) -> bool:
        done = self._completed.get(group_key)
        if done is None:
            return False
        fresh = now - done.started <= self.timeout
        if fresh and done.total == total and done.parts.get(seqnum) == payload:
            return True
        del self._completed[group_key]
        return False

    def _remember_completed(
        self, group_key: tuple[Hashable, int], group: _Group, now: float
    ) -> None:
        self._completed.pop(group_key, None)
        if len(self._completed) >= self.max_groups:
            del self._completed[next(iter(self._completed))]
        self._completed[group_key] = _Group(group.total, now, group.parts)

    def expire(self, now: float) -> list[DroppedGroup]:
        """Drop the groups whose first part is more than ``timeout`` seconds old.

        Returns them, after any group dropped since the last call for another reason.
        """
        stale = [k for k, g in self._groups.items() if now - g.started > self.timeout]
        for group_key in [k for k, g in self._completed.items() if now - g.started > self.timeout]:
            del self._completed[group_key]
        dropped = list(self._dropped)
        self._dropped.clear()
        dropped.extend(self._drop(group_key, DropReason.expired) for group_key in stale)
        return dropped


def concat_info_from(
    short_message: bytes, *, udhi: bool, sar: SarInfo | None = None
) -> tuple[ConcatInfo | None, bytes]:
    """Where an incoming part belongs, and its payload without the UDH.

    The UDH's concatenation element is used when ``udhi`` is set and it has one, else the
    sar_* TLV values; out-of-range SAR values are ignored as §9.2.3.24.1 says of bad UDH ones.
    ``(None, payload)`` means a message on its own. Raises TextError on a malformed UDH.
    """
    concat: ConcatInfo | None = None
    payload = short_message
    if udhi:
        udh, payload = parse_udh(short_message)
        concat = udh.concat
    if concat is None and sar is not None:
        total, seqnum = sar.total_segments, sar.segment_seqnum
        if 1 <= total <= 0xFF and 1 <= seqnum <= total:
            concat = ConcatInfo(sar.msg_ref_num, total, seqnum)
    return concat, payload
