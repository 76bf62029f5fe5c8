"""The delivery state of a message, as the SMSC's delivery receipt reports it.

A receipt's outcome is a fact of the business (was the SMS delivered?), not of the protocol
that carried it, so it lives in the domain: :mod:`mesiji.smpp.receipts` maps the stat words of
SMPP 3.4 Appendix B and the message_state TLV (§5.2.28) to it, and
:mod:`mesiji.domain.statuses` maps it to a part's status, without the domain importing
``mesiji.smpp`` (tests/test_layers.py checks it).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DeliveryState"]


class DeliveryState(StrEnum):
    """The one delivery state the gateway maps every receipt to."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    DELETED = "deleted"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    ENROUTE = "enroute"

    @property
    def is_final(self) -> bool:
        """Whether no later receipt is expected for the message.

        SMPP 3.4 §5.2.28 counts ACCEPTED and UNKNOWN among the final states, but in the field
        ACCEPTD mostly means "taken by the SMSC or the next hop" and UNKNOWN "not known yet",
        and a DELIVRD or UNDELIV often follows. So Mesiji treats both, like ENROUTE, as
        intermediate: the message stays open until a final receipt comes or its validity period
        runs out.
        """
        return self not in _NOT_FINAL


_NOT_FINAL = frozenset({DeliveryState.ENROUTE, DeliveryState.ACCEPTED, DeliveryState.UNKNOWN})
