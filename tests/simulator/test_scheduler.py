"""The one-task scheduler on a VirtualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mesiji.simulator import Scheduler
from mesiji.testing import VirtualClock


@pytest.fixture
async def scheduler(clock: VirtualClock) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(clock)
    scheduler.start()
    yield scheduler
    await scheduler.close()


async def test_callbacks_run_at_their_time_in_order(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    calls: list[tuple[str, float]] = []

    def note(name: str) -> None:
        calls.append((name, clock.monotonic()))

    scheduler.call_later(5, note, "five")
    scheduler.call_later(2, note, "two")
    scheduler.call_later(2, note, "two again")
    await clock.advance(1.9)
    assert calls == []
    await clock.advance(0.1)
    assert calls == [("two", 2.0), ("two again", 2.0)]
    await clock.advance(10)
    assert calls[2] == ("five", 5.0)
    assert len(scheduler) == 0


async def test_an_earlier_entry_wakes_a_long_sleep(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    calls: list[float] = []
    scheduler.call_later(100, calls.append, 100.0)
    await clock.advance(1)
    scheduler.call_later(1, calls.append, 2.0)
    await clock.advance(1)
    assert calls == [2.0]


async def test_a_failing_callback_does_not_stop_the_others(
    scheduler: Scheduler, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def boom(_: int) -> None:
        raise RuntimeError("boom")

    scheduler.call_later(1, boom, 0)
    scheduler.call_later(1, calls.append, 1)
    await clock.advance(1)
    assert calls == [1]
    assert "boom" in caplog.text


async def test_zero_delay_runs_at_once(scheduler: Scheduler, clock: VirtualClock) -> None:
    calls: list[int] = []
    scheduler.call_later(0, calls.append, 1)
    await clock.advance(0)
    assert calls == [1]


async def test_close_drops_what_is_waiting(clock: VirtualClock) -> None:
    scheduler = Scheduler(clock)
    scheduler.start()
    calls: list[int] = []
    scheduler.call_later(1, calls.append, 1)
    await scheduler.close()
    await clock.advance(5)
    assert calls == []
    assert len(scheduler) == 0
