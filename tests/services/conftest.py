"""The pipeline under test: fake store, SMSC simulator over memory pairs, channel, dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from mesiji.services.channels import Channel, client_settings
from mesiji.services.dispatch import Dispatcher
from mesiji.services.receipts import ReceiptHandler, ReceiptSink
from mesiji.settings import ChannelSettings, DispatchSettings
from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.storage.engine import default_sqlite_url
from mesiji.storage.message_ports import AcceptBatch, NewMessage
from mesiji.storage.sql import SqlStore, open_store
from mesiji.testing import VirtualClock, memory_connector
from mesiji.text import choose_alphabet, count_segments

from .fakes import FakeMessageStore, FakePart

#: Real seconds a wait may take before the test fails rather than hangs (a bound on a broken
#: test; nothing waits for real time to pass).
SAFETY = 10.0
CHANNEL = "sim"

#: 200 Georgian letters: three UCS-2 parts (2 x 67 < 200 <= 3 x 67).
GEORGIAN = (
    "გამარჯობა! ეს არის მესიჯის დემო: ქართული ტექსტი იგზავნება სამ ნაწილად, "
    "თითოეულს თავისი მიწოდების ანგარიში მოსდევს. მესიჯი არის ღია კოდის SMS "
    "კარიბჭე ოპერატორებთან SMPP 3.4 პროტოკოლით სამუშაოდ. მადლობა!"
)


def new_message(
    destination: str, body: str = "hello", *, channel: str = CHANNEL, **fields: Any
) -> NewMessage:
    """A message priced the way the accept service prices one for a udh8 channel."""
    alphabet = choose_alphabet(body)
    segments = count_segments(body, alphabet).segments
    return NewMessage(
        sender="Mesiji",
        destination=destination,
        body=body,
        alphabet=alphabet.value,
        segments=segments,
        credits=segments,
        channel=channel,
        **fields,
    )


@dataclasses.dataclass
class Pipeline:
    clock: VirtualClock
    store: FakeMessageStore
    simulator: SmscSimulator
    receipts: ReceiptHandler
    channel: Channel
    dispatcher: Dispatcher

    async def accept(self, messages: Iterable[NewMessage]) -> list[int]:
        accepted = await self.store.accept(
            AcceptBatch(account_id=1, messages=list(messages)), self.clock.now()
        )
        return list(accepted.message_ids)

    async def send(self, bodies: Iterable[str]) -> list[int]:
        """Accept one message per body (to numbers 995599000001, ...) and wake dispatch."""
        ids = await self.accept(
            new_message(f"9955990{n:05d}", body) for n, body in enumerate(bodies, start=1)
        )
        self.dispatcher.notify()
        return ids

    def parts(self) -> list[FakePart]:
        return list(self.store.parts.values())

    async def until(self, condition: Callable[[], bool], *, step: float = 0.0) -> None:
        """Let the loop (and, with ``step``, virtual time) run until ``condition()`` holds."""
        async with asyncio.timeout(SAFETY):
            while not condition():
                await self.clock.advance(step)


PipelineFactory = Callable[..., contextlib.AbstractAsyncContextManager[Pipeline]]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store() -> FakeMessageStore:
    return FakeMessageStore()


@pytest.fixture
async def sql_store(tmp_path: Path, clock: VirtualClock) -> AsyncIterator[SqlStore]:
    """A migrated SQLite store, for the services that read accounts through SQL."""
    store = await open_store(default_sqlite_url(tmp_path), clock=clock)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def make_pipeline(clock: VirtualClock, store: FakeMessageStore) -> PipelineFactory:
    """Builds a running pipeline; keyword arguments go to the simulator, the channel
    (``channel={...}``), the dispatch settings (``dispatch={...}``) and the dispatcher
    (``dispatcher={...}``); ``wrap_receipts`` may wrap the receipt handler."""

    @contextlib.asynccontextmanager
    async def factory(
        *,
        channel: dict[str, Any] | None = None,
        dispatch: dict[str, Any] | None = None,
        dispatcher: dict[str, Any] | None = None,
        wrap_receipts: Callable[[ReceiptHandler], ReceiptSink] | None = None,
        **simulator: Any,
    ) -> AsyncIterator[Pipeline]:
        sim_settings: dict[str, Any] = {"receipt_delay": 1.0}
        sim_settings.update(simulator)
        sim = SmscSimulator(SimulatorSettings(**sim_settings), clock=clock)
        await sim.start(listen=False)
        receipts = ReceiptHandler(store, clock=clock)
        settings = ChannelSettings(name=CHANNEL, port=0, window=10, response_timeout=5.0)
        settings = dataclasses.replace(settings, **(channel or {}))
        client = dataclasses.replace(
            client_settings(settings), reconnect_initial=0.2, reconnect_max=0.5
        )
        chan = Channel(
            settings,
            receipts=wrap_receipts(receipts) if wrap_receipts else receipts,
            clock=clock,
            client=client,
            connector=memory_connector(sim.new_connection),
        )
        chan.start()
        dispatch_settings = DispatchSettings(**(dispatch or {"batch_size": 50}))
        disp = Dispatcher(
            store, chan, dispatch_settings, clock=clock, owner="test", **(dispatcher or {})
        )
        try:
            async with asyncio.timeout(SAFETY):
                await chan.wait_bound()
            disp.start()
            yield Pipeline(clock, store, sim, receipts, chan, disp)
        finally:
            async with asyncio.timeout(SAFETY):
                await disp.stop()
                await chan.close()
                await receipts.close()
                await sim.close()

    return factory
