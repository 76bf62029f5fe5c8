"""Credits: what a message costs, and the error when the balance does not cover it.

Prices and balances are whole credits; one SMS segment normally costs one credit, so a
three-part message to 1,000 numbers costs 3,000. Integers keep the sums exact. The balance is
checked where it is debited, inside the store's transaction, which raises
:class:`InsufficientBalance`.
"""

from __future__ import annotations

from mesiji.errors import MesijiError

__all__ = ["InsufficientBalance", "message_cost"]


class InsufficientBalance(MesijiError):  # noqa: N818 - the name the API contract uses
    """The balance does not cover a send; ``required`` and ``available`` are in credits."""

    code = "insufficient_balance"

    def __init__(self, required: int, available: int) -> None:
        super().__init__(f"the send costs {required} credits and the balance is {available}")
        self.required = required
        self.available = available


def message_cost(segments: int, price_per_segment: int = 1) -> int:
    """The credits one message of ``segments`` segments costs to one destination.

    Raises ValueError for fewer than one segment or a negative price.
    """
    if segments < 1:
        raise ValueError(f"a message has at least one segment, not {segments}")
    if price_per_segment < 0:
        raise ValueError(f"a price cannot be negative: {price_per_segment}")
    return segments * price_per_segment
