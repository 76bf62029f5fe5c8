"""The ``mesiji`` command.

Every failure ends the same way: one line ``error: ...`` on stderr and exit status 1 (argparse's
usage errors keep their status 2). Commands raise what went wrong as a
:class:`~mesiji.errors.MesijiError` (or let an ``OSError`` through) and :func:`main` says it;
a traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from mesiji import __version__
from mesiji.cli import admin, demo, messages, serve, smpp_send
from mesiji.errors import MesijiError
from mesiji.simulator import cli as simulator_cli

__all__ = ["build_parser", "main"]

_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: The exit status of a refused or failed command (argparse uses 2 for bad usage).
FAILED = 1
#: What a shell reports for a command stopped by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130
#: What a shell reports for a command whose output pipe closed (128 + SIGPIPE).
BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="mesiji", description="Mesiji bulk-SMS gateway")
    parser.add_argument("--version", action="version", version=f"mesiji {__version__}")
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=_LOG_LEVELS,
        help="debug, info, warning (default), error or critical",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    demo.add_parser(subparsers)
    simulator_cli.add_parser(subparsers)
    smpp_send.add_parser(subparsers)
    serve.add_parser(subparsers)
    admin.add_parsers(subparsers)
    messages.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mesiji`` console script; the exit status."""
    args = build_parser().parse_args(argv)
    # A command may log less by default (smpp send prints what it sees itself).
    level = args.log_level or getattr(args, "default_log_level", "warning")
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        result: int = args.func(args)
    except MesijiError as exc:
        return _failed(str(exc) or type(exc).__name__)
    except BrokenPipeError:
        # The reader went away (`mesiji messages list | head`): nothing to say, and nothing
        # left to flush at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except OSError as exc:
        return _failed(_os_error(exc))
    except KeyboardInterrupt:
        return INTERRUPTED
    return result


def _failed(message: str) -> int:
    # One line, whatever the message carries (a database's DETAIL lines, a path with a newline).
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return FAILED


def _os_error(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
