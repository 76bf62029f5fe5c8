"""``mesiji smsc-sim`` (and ``python -m mesiji.simulator``): run the simulator from a shell."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Sequence

from mesiji.clock import SystemClock
from mesiji.errors import ConfigError
from mesiji.simulator.server import SmscSimulator
from mesiji.simulator.settings import Outcome, SimulatorSettings

__all__ = ["add_arguments", "add_parser", "build_parser", "main", "run", "settings_from_args"]

DESCRIPTION = "Run a simulated SMPP 3.4 SMSC: binds, submits, delivery receipts, fault injection."


def parse_outcomes(text: str) -> dict[Outcome, float]:
    """``delivered=90,undelivered=5,expired=3,rejected=2`` as weights (an argparse type)."""
    weights: dict[Outcome, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            outcome = Outcome(name.strip().lower())
            weight = float(value) if sep else 1.0
        except ValueError:
            choices = ", ".join(Outcome)
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected OUTCOME=WEIGHT with OUTCOME one of {choices}"
            ) from None
        weights[outcome] = weight
    return weights


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=2775, help="TCP port, 0 for any free one (default 2775)")
    add(
        "--receipt-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="delay between a submit and its delivery receipt (default %(default)s)",
    )
    add(
        "--system-id",
        action="append",
        default=[],
        metavar="ID",
        help="accepted system_id, paired in order with --password; repeat for more; "
        "none given: any bind is accepted",
    )
    add(
        "--password",
        action="append",
        default=[],
        metavar="PASSWORD",
        help="the password of the --system-id in the same position",
    )
    add(
        "--outcomes",
        type=parse_outcomes,
        default=None,
        metavar="LIST",
        help="receipt outcome weights, e.g. delivered=90,undelivered=5,expired=3,rejected=2",
    )
    add(
        "--throttle-every",
        type=_positive_int,
        metavar="N",
        help="answer every Nth submit of a bind with ESME_RTHROTTLED",
    )
    add(
        "--queue-full-every",
        type=_positive_int,
        metavar="N",
        help="answer every Nth submit of a bind with ESME_RMSGQFUL",
    )
    add(
        "--max-tps",
        type=float,
        metavar="RATE",
        help="answer submits above RATE per second and bind with ESME_RTHROTTLED",
    )
    add(
        "--drop-after",
        type=_positive_int,
        metavar="N",
        help="close the TCP connection (no unbind) after N submits on a bind",
    )
    add(
        "--receipt-before-response",
        action="store_true",
        help="send each receipt before the submit_sm_resp carrying its message_id",
    )
    add(
        "--window",
        type=_positive_int,
        default=100,
        help="outstanding deliver_sm per bind (default %(default)s)",
    )
    add("--submit-log", metavar="PATH", help="append one JSON line per accepted submit")
    add("--seed", type=int, help="seed of the outcome draws, for reproducible runs")
    add(
        "--stats-interval",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="print a statistics line every SECONDS (default: only at exit)",
    )


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the ``smsc-sim`` subcommand; its ``func`` default is :func:`run`."""
    parser = subparsers.add_parser(
        "smsc-sim", help="run the SMSC simulator", description=DESCRIPTION
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def build_parser(prog: str = "python -m mesiji.simulator") -> argparse.ArgumentParser:
    """A stand-alone parser with the simulator's options."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def settings_from_args(args: argparse.Namespace) -> SimulatorSettings:
    """The settings the parsed options describe; raises ConfigError when they cannot work."""
    if len(args.system_id) != len(args.password):
        raise ConfigError("give one --password for each --system-id, in the same order")
    credentials = dict(zip(args.system_id, args.password, strict=True)) or None
    extra = {"outcomes": args.outcomes} if args.outcomes is not None else {}
    return SimulatorSettings(
        host=args.host,
        port=args.port,
        credentials=credentials,
        receipt_delay=args.receipt_delay,
        seed=args.seed,
        throttle_every=args.throttle_every,
        queue_full_every=args.queue_full_every,
        max_tps=args.max_tps,
        drop_after=args.drop_after,
        receipt_before_response=args.receipt_before_response,
        window=args.window,
        submit_log=args.submit_log,
        **extra,
    )


def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT or SIGTERM; return the process exit status."""
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"smsc-sim: {exc}", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        try:
            return runner.run(_serve(settings, args.stats_interval))
        except OSError as exc:  # the port is taken, the address is not ours...
            print(
                f"smsc-sim: cannot listen on {settings.host}:{settings.port}: {exc}",
                file=sys.stderr,
            )
            return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mesiji.simulator``."""
    return run(build_parser().parse_args(argv))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop  # noqa: PLC0415 - optional, and only needed when running
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(settings: SimulatorSettings, stats_interval: float) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with SmscSimulator(settings, clock=SystemClock()) as sim:
        print(f"Mesiji SMSC simulator listening on {settings.host}:{sim.port}", flush=True)
        reporter = None
        if stats_interval > 0:
            reporter = loop.create_task(_report(sim, stats_interval))
        await stop.wait()
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        print("Stopping: unbinding ESMEs", flush=True)
    print(f"Final stats: {sim.stats.summary()}", flush=True)
    return 0


async def _report(sim: SmscSimulator, interval: float) -> None:
    previous = 0
    while True:
        await asyncio.sleep(interval)
        stats = sim.stats
        recent = (stats.accepted - previous) / interval
        previous = stats.accepted
        print(f"{stats.summary()} last={recent:.0f}/s", flush=True)
