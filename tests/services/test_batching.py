"""The batch writer on its own: when it writes, how much at once, retries and giving up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from mesiji.services.batching import BatchWriter, RetryPolicy
from mesiji.storage.errors import StorageError, StorageUnavailable
from mesiji.testing import VirtualClock, eventually

WriterFactory = Callable[..., BatchWriter[int]]


class Sink:
    """A store for the writer: keeps each batch written; ``failures`` next calls raise (as a
    locked database does), a batch holding a ``poisoned`` item raises (as a database refusing
    one value does), and ``gate``, when set, holds every call until it is opened."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.tries = 0
        self.failures = 0
        self.poisoned: set[int] = set()
        self.gate: asyncio.Event | None = None

    async def write(self, batch: Sequence[int]) -> None:
        self.tries += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("database is locked")
        if self.poisoned.intersection(batch):
            raise StorageError("invalid byte sequence for encoding UTF8: 0x00")
        self.batches.append(list(batch))

    @property
    def sizes(self) -> list[int]:
        return [len(batch) for batch in self.batches]

    @property
    def items(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


async def settle() -> None:
    """Let the writer run whatever it can without time moving."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
async def make_writer(sink: Sink, clock: VirtualClock) -> AsyncIterator[WriterFactory]:
    writers: list[BatchWriter[int]] = []

    def make(*, start: bool = True, **options: Any) -> BatchWriter[int]:
        settings: dict[str, Any] = {"batch": 3, "delay": 0.5, "description": "numbers"}
        settings.update(options)
        writer = BatchWriter[int](sink.write, clock, **settings)
        if start:
            writer.start()
        writers.append(writer)
        return writer

    yield make
    sink.failures = 0
    if sink.gate is not None:
        sink.gate.set()
    for writer in writers:
        await asyncio.wait_for(writer.close(), 5.0)


async def test_a_full_batch_is_written_at_once(make_writer: WriterFactory, sink: Sink) -> None:
    writer = make_writer(batch=3, delay=10.0)
    first = [writer.add(n) for n in range(3)]
    await eventually(lambda: sink.batches == [[0, 1, 2]])
    assert all(f.done() for f in first)
    later = [writer.add(n) for n in range(3, 5)]
    await settle()
    assert sink.batches == [[0, 1, 2]]  # two wait for a third or for the delay
    assert not any(f.done() for f in later)
    assert writer.pending == 2


async def test_a_partial_batch_is_written_after_the_delay(
    make_writer: WriterFactory, sink: Sink, clock: VirtualClock
) -> None:
    writer = make_writer(batch=100, delay=0.5)
    first = writer.add(1)
    await clock.advance(0.3)
    second = writer.add(2)
    await clock.advance(0.19)
    assert sink.batches == []
    assert not first.done()
    # The delay runs from the first item, not the last.
    await clock.advance(0.01)
    await eventually(lambda: sink.batches == [[1, 2]])
    await asyncio.wait_for(asyncio.gather(first, second), 1.0)


async def test_flush_soon_writes_what_waits_without_the_delay(
    make_writer: WriterFactory, sink: Sink
) -> None:
    writer = make_writer(batch=100, delay=60.0)
    writer.flush_soon()  # nothing pending: nothing is written
    await settle()
    assert sink.tries == 0
    done = [writer.add(1), writer.add(2)]
    await settle()
    assert sink.batches == []
    writer.flush_soon()
    await eventually(lambda: sink.batches == [[1, 2]])
    assert all(f.done() for f in done)
    # A later item waits for a batch or the delay again.
    writer.add(3)
    await settle()
    assert sink.batches == [[1, 2]]


async def test_in_eager_mode_every_item_is_written_at_once(
    make_writer: WriterFactory, sink: Sink
) -> None:
    writer = make_writer(batch=100, delay=60.0)
    writer.add(1)
    await settle()
    writer.eager()  # what waited goes now
    await eventually(lambda: sink.batches == [[1]])
    writer.add(2)
    await eventually(lambda: sink.batches == [[1], [2]])
    writer.add(3)
    writer.add(4)
    await eventually(lambda: sink.items == [1, 2, 3, 4])


async def test_close_writes_everything_pending_in_calls_of_at_most_the_maximum(
    make_writer: WriterFactory, sink: Sink
) -> None:
    writer = make_writer(batch=100_000, delay=60.0, max_per_call=1000)
    futures = [writer.add(n) for n in range(2500)]
    await writer.close()
    assert sink.sizes == [1000, 1000, 500]
    assert sink.items == list(range(2500))
    assert all(f.done() and f.result() is None for f in futures)
    assert (writer.calls, writer.stored, writer.dropped, writer.pending) == (3, 2500, 0, 0)


async def test_a_large_backlog_is_split_at_the_maximum(
    make_writer: WriterFactory, sink: Sink
) -> None:
    sink.gate = gate = asyncio.Event()
    writer = make_writer(batch=10, max_per_call=25)
    writer.add(-1)  # holds the writer while the backlog builds up
    writer.flush_soon()
    await eventually(lambda: sink.tries == 1)
    futures = [writer.add(n) for n in range(60)]
    gate.set()
    await eventually(lambda: writer.stored == 61)
    assert sink.sizes == [1, 25, 25, 10]
    assert max(sink.sizes) <= 25
    assert all(f.done() for f in futures)


async def test_a_failed_write_is_tried_again_with_backoff(
    make_writer: WriterFactory,
    sink: Sink,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink.failures = 2
    writer = make_writer(retry=RetryPolicy(tries=5, backoff_initial=0.1, backoff_max=5.0))
    with caplog.at_level(logging.ERROR, logger="mesiji.services.batching"):
        done = writer.add(7)
        writer.flush_soon()
        await eventually(lambda: sink.tries == 1)
        await clock.advance(0.04)  # the first delay is between 0.05 and 0.1 s
        assert sink.tries == 1
        await clock.advance(0.06)
        await eventually(lambda: sink.tries == 2)
        assert not done.done()
        await clock.advance(0.2)  # the second, between 0.1 and 0.2 s
        await eventually(lambda: sink.batches == [[7]])
    assert done.done()
    assert (writer.calls, writer.stored, writer.dropped) == (1, 1, 0)
    assert caplog.text.count("cannot record 1 numbers; trying again") == 2


async def test_a_batch_is_given_up_after_its_tries(
    make_writer: WriterFactory,
    sink: Sink,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink.failures = 1_000
    writer = make_writer(retry=RetryPolicy(tries=3))
    with caplog.at_level(logging.ERROR, logger="mesiji.services.batching"):
        futures = [writer.add(n) for n in range(3)]
        for _ in range(10):
            await clock.advance(1.0)
        await eventually(lambda: all(f.done() for f in futures))
    assert sink.tries == 3
    assert [f.result() for f in futures] == [None] * 3  # completed, never with an error
    assert (writer.calls, writer.stored, writer.dropped) == (0, 0, 3)
    assert "cannot record 3 numbers; given up after 3 tries" in caplog.text
    # The next batch is tried afresh.
    sink.failures = 0
    writer.add(9)
    writer.flush_soon()
    await eventually(lambda: sink.batches == [[9]])
    assert (writer.calls, writer.stored) == (1, 1)


async def test_a_poisoned_item_fails_alone_and_the_rest_is_stored(
    make_writer: WriterFactory,
    sink: Sink,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink.poisoned = {5}
    writer = make_writer(retry=RetryPolicy(tries=2))
    with caplog.at_level(logging.ERROR, logger="mesiji.services.batching"):
        futures = [writer.add(n) for n in range(8)]
        writer.flush_soon()
        await eventually(lambda: sorted(sink.items) == [0, 1, 2, 3, 4, 6, 7])
        for _ in range(10):
            await clock.advance(1.0)
        await eventually(lambda: all(f.done() for f in futures))
    # [0-7] refused, [0-3] stored, [4-7] refused, [4, 5] refused, [4] stored, [5] refused,
    # [6, 7] stored; then [5] once more, and given up.
    assert sink.sizes == [4, 1, 2]
    assert sink.tries == 8
    assert (writer.calls, writer.stored, writer.dropped) == (3, 7, 1)
    assert "cannot record 1 numbers; given up after 2 tries" in caplog.text


async def test_without_a_limit_a_batch_is_tried_until_it_is_stored(
    make_writer: WriterFactory, sink: Sink, clock: VirtualClock
) -> None:
    sink.failures = 12
    writer = make_writer(retry=RetryPolicy(tries=None, backoff_max=1.0))
    done = writer.add(1)
    writer.flush_soon()
    for _ in range(20):
        await clock.advance(1.0)
    await eventually(lambda: sink.batches == [[1]])
    assert sink.tries == 13
    assert done.done()
    assert writer.dropped == 0


async def test_close_gives_up_after_the_closing_tries(
    make_writer: WriterFactory,
    sink: Sink,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink.failures = 1_000
    writer = make_writer(retry=RetryPolicy(tries=None, tries_closing=2))
    with caplog.at_level(logging.ERROR, logger="mesiji.services.batching"):
        done = writer.add(1)
        closing = asyncio.create_task(writer.close())
        await eventually(lambda: sink.tries == 1)
        assert not closing.done()
        await clock.advance(1.0)
        await asyncio.wait_for(closing, 1.0)
    assert sink.tries == 2
    assert done.done()
    assert (writer.stored, writer.dropped) == (0, 1)
    assert "given up after 2 tries" in caplog.text


async def test_tries_made_before_the_close_count(
    make_writer: WriterFactory, sink: Sink, clock: VirtualClock
) -> None:
    sink.failures = 1_000
    # Tries 0.5 to 1 s apart: steps of 0.25 s see them one at a time.
    retry = RetryPolicy(tries=None, tries_closing=3, backoff_initial=1.0, backoff_max=1.0)
    writer = make_writer(retry=retry)
    writer.add(1)
    writer.flush_soon()
    while sink.tries < 6:
        await clock.advance(0.25)
    closing = asyncio.create_task(writer.close())
    while not closing.done():
        await clock.advance(0.25)
    await closing
    assert sink.tries == 7  # past tries_closing already: the next failure gives up
    assert writer.dropped == 1


async def test_counters_count_successful_calls_and_items(
    make_writer: WriterFactory, sink: Sink
) -> None:
    writer = make_writer(batch=2)
    writer.add(0)
    writer.add(1)
    await eventually(lambda: writer.stored == 2)
    writer.add(2)
    writer.add(3)
    await eventually(lambda: writer.stored == 4)
    writer.add(4)
    await settle()
    assert (writer.calls, writer.stored) == (2, 4)
    await writer.close()
    assert (writer.calls, writer.stored, writer.dropped) == (3, 5, 0)
    assert sink.sizes == [2, 2, 1]


async def test_a_waiter_that_gave_up_does_not_stop_the_writer(
    make_writer: WriterFactory, sink: Sink
) -> None:
    writer = make_writer(batch=2)
    impatient = writer.add(1)
    impatient.cancel()
    patient = writer.add(2)
    await asyncio.wait_for(patient, 1.0)
    assert sink.batches == [[1, 2]]  # a cancelled future does not withdraw its item


async def test_items_added_before_start_are_written_once_started(
    make_writer: WriterFactory, sink: Sink
) -> None:
    writer = make_writer(start=False, batch=2)
    done = writer.add(1)
    writer.add(2)
    await settle()
    assert sink.tries == 0
    writer.start()
    await asyncio.wait_for(done, 1.0)
    assert sink.batches == [[1, 2]]


async def test_close_without_start_still_writes(make_writer: WriterFactory, sink: Sink) -> None:
    writer = make_writer(start=False)
    done = writer.add(1)
    await writer.close()
    assert done.done()
    assert sink.batches == [[1]]


async def test_after_close_items_are_refused_until_started_again(
    make_writer: WriterFactory, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer()
    await writer.close()
    with caplog.at_level(logging.ERROR, logger="mesiji.services.batching"):
        late = writer.add(1)
    assert late.done()  # not left pending
    assert writer.dropped == 1
    assert "the writer is closed" in caplog.text
    writer.start()
    writer.add(2)
    writer.flush_soon()
    await eventually(lambda: sink.batches == [[2]])


async def test_a_cancelled_writer_leaves_no_future_pending(
    make_writer: WriterFactory, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.gate = asyncio.Event()  # the write never ends
    writer = make_writer(batch=2)
    futures = [writer.add(n) for n in range(5)]
    await eventually(lambda: sink.tries == 1)
    closing = asyncio.create_task(writer.close())
    await settle()
    with caplog.at_level(logging.ERROR, logger="mesiji.services.batching"):
        closing.cancel()  # as when the event loop shuts down
        with pytest.raises(asyncio.CancelledError):
            await closing
    assert all(f.done() for f in futures)
    assert (writer.stored, writer.dropped) == (0, 5)
    assert "cannot record 5 numbers: the writer stopped" in caplog.text


def test_settings_are_checked(clock: VirtualClock, sink: Sink) -> None:
    for options in ({"batch": 0}, {"max_per_call": 0}, {"delay": -1.0}):
        settings: dict[str, Any] = {"batch": 1, "delay": 0.0, "description": "x"} | options
        with pytest.raises(ValueError, match=r"must be at least 1|cannot be negative"):
            BatchWriter[int](sink.write, clock, **settings)
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(tries=0)
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(tries_closing=0)
