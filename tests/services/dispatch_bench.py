"""Dispatcher throughput: parts claimed from the in-memory store reaching an SMSC simulator.

Run from the project's root (the simulator runs in its own process)::

    .venv/bin/python -m tests.services.dispatch_bench --parts 100000 --sessions 2
    .venv/bin/python -m tests.services.dispatch_bench --simulator ../shared/peers/smsc_sim.py

It accepts ``--parts`` single-part messages into :class:`FakeMessageStore`, starts one
channel and its dispatcher, and reports parts/s from the first claim to the last
submit_sm_resp, and to the last result recorded. With ``--receipts`` the simulator sends every
receipt at once and the run also waits for all of them to be stored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mesiji.clock import SystemClock
from mesiji.services.channels import Channel
from mesiji.services.dispatch import Dispatcher
from mesiji.services.receipts import ReceiptHandler
from mesiji.settings import ChannelSettings, DispatchSettings
from mesiji.storage.message_ports import AcceptBatch
from mesiji.testing import free_port

from .conftest import new_message
from .fakes import FakeMessageStore


@contextlib.contextmanager
def _simulator(script: str | None, port: int, receipts: bool) -> Iterator[None]:
    delay = "0" if receipts else "36000"
    if script is None:
        command = [sys.executable, "-m", "mesiji.simulator", "--port", str(port)]
        command += ["--receipt-delay", delay]
    else:
        command = [sys.executable, script, "--port", str(port), "--dlr-delay", delay, "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)


async def _wait(condition: Callable[[], bool], limit: float) -> None:
    async with asyncio.timeout(limit):
        while not condition():  # noqa: ASYNC110 - counters moved by socket callbacks
            await asyncio.sleep(0.002)


async def bench(args: argparse.Namespace, port: int) -> None:
    clock = SystemClock()
    store = FakeMessageStore()
    for start in range(0, args.parts, 10_000):
        count = min(10_000, args.parts - start)
        batch = [new_message(f"99559{n:07d}", f"bench {n}") for n in range(start, start + count)]
        await store.accept(AcceptBatch(1, batch), clock.now())
    # The fake store's 100,000 rows stand for a database: keep the collector off them.
    gc.collect()
    gc.freeze()
    receipts = ReceiptHandler(store, clock=clock)
    settings = ChannelSettings(
        name="sim", port=port, sessions=args.sessions, window=args.window, response_timeout=30
    )
    channel = Channel(settings, receipts=receipts, clock=clock)
    channel.start()
    await asyncio.wait_for(channel.wait_bound(), 10)
    dispatcher = Dispatcher(
        store,
        channel,
        DispatchSettings(batch_size=args.batch, lease_seconds=600),
        clock=clock,
        owner="bench",
    )
    stats = dispatcher.stats
    started = time.perf_counter()
    dispatcher.start()
    await _wait(lambda: stats.submitted >= args.parts, 600)
    answered = time.perf_counter() - started
    await _wait(lambda: stats.recorded >= args.parts, 60)
    recorded = time.perf_counter() - started
    print(
        f"{args.parts} parts, {args.sessions} bind(s) x window {args.window}, batch {args.batch}:"
        f" {args.parts / answered:,.0f} parts/s to the last submit_sm_resp,"
        f" {args.parts / recorded:,.0f} parts/s to the last record"
        f" ({stats.record_calls} record_submissions calls)"
    )
    if args.receipts:
        await _wait(lambda: receipts.stored >= args.parts, 600)
        done = time.perf_counter() - started
        print(
            f"  all receipts stored after {done:.2f}s: {args.parts / done:,.0f} parts/s end to end"
            f" ({receipts.commits} apply_receipts calls)"
        )
    await dispatcher.stop()
    await channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--receipts", action="store_true", help="receipts flow back at once")
    parser.add_argument("--simulator", help="a simulator script with --port/--dlr-delay")
    args = parser.parse_args()
    if args.simulator is not None:
        args.simulator = str(Path(args.simulator).resolve())
    port = free_port()
    with _simulator(args.simulator, port, args.receipts):
        try:
            import uvloop

            uvloop.run(bench(args, port))
        except ImportError:
            asyncio.run(bench(args, port))


if __name__ == "__main__":
    main()
