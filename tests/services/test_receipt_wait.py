"""The sweep that ends parts ``unknown`` when their receipt never comes, on the virtual clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from mesiji.domain.statuses import MessageStatus
from mesiji.services.receipt_wait import MAX_INTERVAL, ReceiptWait
from mesiji.storage.errors import StorageUnavailable
from mesiji.storage.message_ports import GivenUp, StatusChange
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.sql import SqlStore
from mesiji.testing import VirtualClock, eventually
from tests.storage.message_fixtures import funded_account, in_transit, part_statuses

WAIT = 100.0


async def test_a_part_without_a_receipt_ends_unknown_after_the_wait(
    sql_store: SqlStore, clock: VirtualClock
) -> None:
    messages = SqlMessageStore(sql_store.engine)
    account = await funded_account(sql_store)
    message_id, _ = await in_transit(messages, account, clock.now(), ["1"])
    heard: list[StatusChange] = []
    sweeper = ReceiptWait(messages, wait=WAIT, clock=clock, on_changes=heard.extend)
    sweeper.start()
    try:
        await clock.advance(WAIT)  # sweeps every WAIT / 4: the last one at exactly WAIT
        assert await part_statuses(sql_store, message_id) == ["in_transit"]
        await clock.advance(WAIT / 4)
        await eventually(lambda: sweeper.given_up == 1)
        assert await part_statuses(sql_store, message_id) == ["unknown"]
        assert [(c.message_id, c.status) for c in heard] == [(message_id, MessageStatus.UNKNOWN)]
    finally:
        await sweeper.stop()


class ScriptedStore:
    """Gives up as many parts as the test says, per call; or fails."""

    def __init__(self, *results: GivenUp | Exception) -> None:
        self.results = list(results)
        self.calls: list[tuple[datetime, datetime, int]] = []

    async def give_up_waiting(
        self, submitted_before: datetime, now: datetime, limit: int
    ) -> GivenUp:
        self.calls.append((submitted_before, now, limit))
        result = self.results.pop(0) if self.results else GivenUp(0, [])
        if isinstance(result, Exception):
            raise result
        return result


async def test_a_sweep_goes_on_while_batches_come_back_full(clock: VirtualClock) -> None:
    change = StatusChange(1, 1, MessageStatus.UNKNOWN, clock.now())
    store = ScriptedStore(GivenUp(2, [change]), GivenUp(2, []), GivenUp(1, [change]))
    heard: list[Sequence[StatusChange]] = []
    sweeper = ReceiptWait(store, wait=WAIT, clock=clock, batch=2, on_changes=heard.append)
    assert await sweeper.sweep() == 5
    assert len(store.calls) == 3
    assert heard == [[change], [change]]
    submitted_before, now, limit = store.calls[0]
    assert (now - submitted_before).total_seconds() == WAIT
    assert limit == 2


async def test_a_failed_sweep_is_tried_again(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = ScriptedStore(StorageUnavailable("database is locked"), GivenUp(1, []))
    sweeper = ReceiptWait(store, wait=3600.0, clock=clock)
    sweeper.start()
    try:
        await eventually(lambda: len(store.calls) == 1)
        await clock.advance(1.0)  # the backoff, at most its first delay
        await eventually(lambda: sweeper.given_up == 1)
        assert "cannot give up parts without a receipt" in caplog.text
        await clock.advance(MAX_INTERVAL)  # a long wait still sweeps every minute
        await eventually(lambda: len(store.calls) == 3)
    finally:
        await sweeper.stop()


async def test_a_wait_of_zero_never_sweeps(clock: VirtualClock) -> None:
    store = ScriptedStore()
    sweeper = ReceiptWait(store, wait=0, clock=clock)
    sweeper.start()
    await clock.advance(10 * MAX_INTERVAL)
    assert store.calls == []
    await sweeper.stop()
    with pytest.raises(ValueError, match="wait"):
        ReceiptWait(store, wait=-1, clock=clock)
