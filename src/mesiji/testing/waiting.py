"""Waiting for a condition that other tasks or socket I/O will make true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Return once ``condition()`` holds; raise TimeoutError after ``limit`` real seconds.

    The limit only bounds a broken test: nothing here waits for time to pass, it yields to the
    event loop until the awaited state change has happened.
    """
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - the state is changed by socket callbacks
            await asyncio.sleep(0.001)
