"""Token bucket and backoff, driven by explicit times."""

from __future__ import annotations

import random

import pytest

from mesiji.pacing import Backoff, TokenBucket


def test_token_bucket_allows_the_burst_then_spaces_by_rate() -> None:
    bucket = TokenBucket(rate=100, burst=2)
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == pytest.approx(0.01)
    assert bucket.reserve(0.0) == pytest.approx(0.02)


def test_token_bucket_refills_with_time() -> None:
    bucket = TokenBucket(rate=10, burst=1)
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.05) == pytest.approx(0.05)
    assert bucket.reserve(1.0) == 0.0


def test_token_bucket_long_run_rate_is_the_cap() -> None:
    bucket = TokenBucket(rate=50, burst=5)
    now = 0.0
    for _ in range(1000):
        now += bucket.reserve(now)
    assert 1000 / now == pytest.approx(50, rel=0.01)


def test_backoff_grows_with_jitter_caps_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, nominal in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert nominal / 2 <= delay <= nominal
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_backoff_delay_of_a_given_attempt_counts_nothing() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(7))
    for attempt, nominal in enumerate([1, 2, 4, 8, 8]):
        assert nominal / 2 <= backoff.delay(attempt) <= nominal
    assert backoff.attempt == 0
    assert backoff.next_delay() <= 1.0


def test_backoff_survives_many_attempts() -> None:
    backoff = Backoff(initial=0.1, maximum=30.0)
    for _ in range(5000):
        assert backoff.next_delay() <= 30.0
