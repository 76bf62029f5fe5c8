"""The per-account limit on send requests, on the injected clock (no test waits for it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mesiji.services.errors import ErrorCode, RequestError
from mesiji.services.rate_limits import SendRateLimiter
from mesiji.storage.records import Account, AccountStatus
from mesiji.testing import VirtualClock

SHOP = Account(
    id=1,
    name="Shop",
    website=None,
    contact_email=None,
    contact_phone=None,
    status=AccountStatus.ACTIVE,
    balance=100,
    price_per_segment=1,
    allowed_regions=("GE",),
    api_enabled=True,
    webhook_secret="s",
    callback_url=None,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)
TAXI = replace(SHOP, id=2, name="Taxi")


def refused(limiter: SendRateLimiter, account: Account) -> RequestError:
    with pytest.raises(RequestError) as caught:
        limiter.admit(account)
    return caught.value


async def test_n_requests_pass_the_next_waits_a_second() -> None:
    clock = VirtualClock()
    limiter = SendRateLimiter(clock, 3)
    for _ in range(3):
        limiter.admit(SHOP)
    error = refused(limiter, SHOP)
    assert error.code is ErrorCode.too_many_requests
    assert error.retry_after == 1
    assert error.transient
    await clock.advance(0.999)
    assert refused(limiter, SHOP).retry_after == 1  # the first request is still in the window
    await clock.advance(0.001)
    for _ in range(3):  # a second later all three have left the window
        limiter.admit(SHOP)
    assert refused(limiter, SHOP).retry_after == 1


async def test_the_window_slides() -> None:
    clock = VirtualClock()
    limiter = SendRateLimiter(clock, 2)
    limiter.admit(SHOP)
    await clock.advance(0.6)
    limiter.admit(SHOP)
    refused(limiter, SHOP)
    await clock.advance(0.4)  # the first is a second old: its place is free, not the second's
    limiter.admit(SHOP)
    refused(limiter, SHOP)
    await clock.advance(0.6)
    limiter.admit(SHOP)


def test_refused_requests_are_not_counted() -> None:
    clock = VirtualClock()
    limiter = SendRateLimiter(clock, 1)
    limiter.admit(SHOP)
    for _ in range(50):
        assert refused(limiter, SHOP).retry_after == 1


def test_one_accounts_limit_does_not_touch_another() -> None:
    limiter = SendRateLimiter(VirtualClock(), 2)
    limiter.admit(SHOP)
    limiter.admit(SHOP)
    refused(limiter, SHOP)
    limiter.admit(TAXI)
    limiter.admit(TAXI)
    refused(limiter, TAXI)


def test_an_accounts_own_rate_wins_and_zero_is_no_limit() -> None:
    limiter = SendRateLimiter(VirtualClock(), 1)
    generous = replace(SHOP, send_rate=5)
    unlimited = replace(TAXI, send_rate=0)
    assert (limiter.rate_of(SHOP), limiter.rate_of(generous), limiter.rate_of(unlimited)) == (
        1,
        5,
        0,
    )
    for _ in range(5):
        limiter.admit(generous)
    refused(limiter, generous)
    for _ in range(1000):
        limiter.admit(unlimited)
    off = SendRateLimiter(VirtualClock(), 0)
    for _ in range(1000):
        off.admit(SHOP)


def test_a_changed_rate_counts_afresh() -> None:
    limiter = SendRateLimiter(VirtualClock(), 1)
    limiter.admit(SHOP)
    refused(limiter, SHOP)
    raised = replace(SHOP, send_rate=2)
    limiter.admit(raised)
    limiter.admit(raised)
    refused(limiter, raised)


def test_a_negative_default_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        SendRateLimiter(VirtualClock(), -1)
