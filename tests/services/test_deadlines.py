"""Deadlines: attempts bounded on the injected clock, one watcher for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mesiji.services.deadlines import Deadlines
from mesiji.testing import VirtualClock


@pytest.fixture
async def deadlines(clock: VirtualClock) -> AsyncIterator[Deadlines]:
    bounds = Deadlines(clock, 10.0)
    bounds.start()
    yield bounds
    await bounds.close()


async def _attempt(deadlines: Deadlines, work: asyncio.Event) -> str:
    deadline = deadlines.arm()
    try:
        await work.wait()
    except asyncio.CancelledError:
        if deadlines.timed_out(deadline):
            return "timed out"
        raise
    finally:
        deadline.finished = True
    return "done"


async def test_an_attempt_past_its_bound_is_cancelled_and_told_apart(
    deadlines: Deadlines, clock: VirtualClock
) -> None:
    never = asyncio.Event()
    late = asyncio.create_task(_attempt(deadlines, never))
    await clock.advance(5.0)
    second = asyncio.create_task(_attempt(deadlines, never))
    await clock.advance(5.0)
    assert await late == "timed out"
    assert not second.done()
    await clock.advance(5.0)
    assert await second == "timed out"


async def test_an_attempt_that_ends_in_time_is_left_alone(
    deadlines: Deadlines, clock: VirtualClock
) -> None:
    work = asyncio.Event()
    attempt = asyncio.create_task(_attempt(deadlines, work))
    await clock.advance(9.0)
    work.set()
    assert await attempt == "done"
    await clock.advance(20.0)


async def test_a_cancellation_from_elsewhere_is_not_taken_for_a_timeout(
    deadlines: Deadlines, clock: VirtualClock
) -> None:
    attempt = asyncio.create_task(_attempt(deadlines, asyncio.Event()))
    await clock.advance(1.0)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
