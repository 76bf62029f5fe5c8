"""The ``mesiji`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mesiji import __version__
from mesiji.cli import admin, demo, serve, smpp_send
from mesiji.simulator import cli as simulator_cli


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="mesiji", description="Mesiji bulk-SMS gateway")
    parser.add_argument("--version", action="version", version=f"mesiji {__version__}")
    parser.add_argument("--log-level", default="warning", help="debug, info, warning, error")
    subparsers = parser.add_subparsers(dest="command", required=True)
    demo.add_parser(subparsers)
    simulator_cli.add_parser(subparsers)
    smpp_send.add_parser(subparsers)
    serve.add_parser(subparsers)
    admin.add_parsers(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mesiji`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
