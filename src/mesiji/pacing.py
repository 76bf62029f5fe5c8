"""Pacing without I/O: a token bucket for rate caps and exponential backoff with jitter.

Both take the current time as an argument, so they work with any clock and test without one.
"""

from __future__ import annotations

import random


class TokenBucket:
    """At most ``rate`` events a second on average, with bursts of up to ``burst``."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._burst = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self._burst
        self._stamp: float | None = None

    def reserve(self, now: float) -> float:
        """Take one token; return how long to wait before using it (0 when available now).

        A reservation is kept even when the caller must wait, so concurrent callers queue up
        in order instead of all waking at once.
        """
        if self._stamp is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self._rate


class Backoff:
    """Exponential backoff with full jitter, capped.

    The n-th delay is drawn uniformly from ``[base/2, base]`` where
    ``base = min(maximum, initial * multiplier**n)``: spread enough that many clients
    reconnecting at once do not stampede, never shorter than half the nominal delay.
    """

    __slots__ = ("_attempt", "_initial", "_maximum", "_multiplier", "_rng")

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 60.0,
        multiplier: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self._initial = initial
        self._maximum = maximum
        self._multiplier = multiplier
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        """The delay before the next attempt; each call backs off further."""
        delay = self.delay(self._attempt)
        self._attempt += 1
        return delay

    def delay(self, attempt: int) -> float:
        """The ``attempt``-th delay (0 for the first), without counting an attempt: for
        callers that keep the count themselves, such as a stored retry counter."""
        base = min(self._maximum, self._initial * self._multiplier ** min(attempt, 60))
        return self._rng.uniform(base / 2, base)

    def reset(self) -> None:
        """Success: the next failure starts again from ``initial``."""
        self._attempt = 0
