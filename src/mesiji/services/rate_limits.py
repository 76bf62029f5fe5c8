"""A per-account limit on send requests, counted in this process's memory.

Each account may make so many send requests (on either API) in any one-second window; the
next is refused with ``too_many_requests`` and the whole seconds to wait (HTTP 429 and
Retry-After on /v1, -100 in smsoffice.ge's envelope). What is limited is requests, as
Twilio's per-account API limit and Jasmin's ``http_throughput`` do, not recipients: one
request with 1000 numbers is one request, and the balance bounds what it can cost.

The window is a sliding log (pyrate-limiter's :class:`~pyrate_limiter.InMemoryBucket`),
fed with timestamps of the injected clock: the library never reads time itself on this path,
so tests move time with :class:`mesiji.testing.VirtualClock` instead of sleeping. A refused
request is not counted. Counts live in one gateway process: N processes behind a balancer
let an account make up to N times its limit (docs/configuration.md).
"""

from __future__ import annotations

import math

from pyrate_limiter import Decision, InMemoryBucket, Rate, RateItem

from mesiji.clock import Clock
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage.records import Account

__all__ = ["SendRateLimiter"]

#: The window in milliseconds. The library counts both ends of it (``now - interval`` to
#: ``now``), so 999 spans exactly the 1000 millisecond ticks of one second: a client that
#: waits its Retry-After of 1 s finds the oldest request gone.
_WINDOW_MS = 999


class SendRateLimiter:
    """Admits an account's send requests up to its rate, a second at a time.

    ``per_second`` is the gateway's default; an account's own ``send_rate`` wins over it.
    0 (either way) means no limit.
    """

    def __init__(self, clock: Clock, per_second: int) -> None:
        if per_second < 0:
            raise ValueError("per_second must not be negative")
        self._clock = clock
        self._default = per_second
        self._buckets: dict[int, tuple[int, InMemoryBucket]] = {}

    def rate_of(self, account: Account) -> int:
        """The send requests a second ``account`` may make; 0 for no limit."""
        return account.send_rate if account.send_rate is not None else self._default

    def admit(self, account: Account) -> None:
        """Count one send request of ``account``, or refuse it with :class:`RequestError`
        (``too_many_requests``, with ``retry_after`` in whole seconds, at least 1)."""
        limit = self.rate_of(account)
        if limit <= 0:
            self._buckets.pop(account.id, None)
            return
        kept = self._buckets.get(account.id)
        if kept is None or kept[0] != limit:
            # A new account, or its rate changed: count afresh at the new rate.
            kept = (limit, InMemoryBucket([Rate(limit, _WINDOW_MS)]))
            self._buckets[account.id] = kept
        bucket = kept[1]
        now = round(self._clock.monotonic() * 1000)
        bucket.leak(now)  # forget requests older than the window, so the log stays short
        decision = bucket.put_decision(RateItem(str(account.id), now))
        if not isinstance(decision, Decision):  # pragma: no cover -- in-memory buckets are sync
            raise TypeError("an in-memory bucket decides at once")
        if decision.allowed:
            return
        wait_ms = decision.retry_after_ms if decision.retry_after_ms is not None else 1000
        seconds = max(1, math.ceil(wait_ms / 1000))
        raise RequestError(
            ErrorCode.too_many_requests,
            f"more than {limit} send request(s) a second for this account; retry in {seconds} s",
            retry_after=seconds,
        )
