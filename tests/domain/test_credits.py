"""Message cost and the insufficient-balance error."""

from __future__ import annotations

import pytest

from mesiji.domain.credits import InsufficientBalance, message_cost
from mesiji.errors import MesijiError


@pytest.mark.parametrize(
    ("segments", "price", "cost"),
    [(1, 1, 1), (3, 1, 3), (7, 2, 14), (2, 0, 0)],
)
def test_message_cost(segments: int, price: int, cost: int) -> None:
    assert message_cost(segments, price) == cost


def test_default_price_is_one_credit_a_segment() -> None:
    assert message_cost(4) == 4


@pytest.mark.parametrize(
    ("segments", "price", "complaint"),
    [(0, 1, "at least one segment"), (-1, 1, "at least one segment"), (1, -1, "negative")],
)
def test_message_cost_refuses_nonsense(segments: int, price: int, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        message_cost(segments, price)


def test_insufficient_balance() -> None:
    error = InsufficientBalance(required=3, available=2)
    assert isinstance(error, MesijiError)
    assert (error.code, error.required, error.available) == ("insufficient_balance", 3, 2)
    assert "3" in str(error)
    assert "2" in str(error)
