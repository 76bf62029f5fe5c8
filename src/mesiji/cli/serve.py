"""``mesiji serve``: the gateway: HTTP APIs, SMPP channels, dispatch, receipts, callbacks."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

import uvicorn
import uvloop

from mesiji.bootstrap import Gateway
from mesiji.cli.admin import add_config_argument, settings_from
from mesiji.errors import MesijiError
from mesiji.logs import configure_logging
from mesiji.settings import Settings

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger(__name__)


def add_parser(subparsers: Subparsers) -> None:
    """Register ``serve``."""
    parser = subparsers.add_parser("serve", help="run the gateway")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 1 when the settings or the database are unusable."""
    try:
        settings = settings_from(args)
        configure_logging(settings.log_level, settings.log_format)
        uvloop.run(serve(settings))
    except MesijiError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def server_for(gateway: Gateway, host: str, port: int, log_level: str) -> uvicorn.Server:
    """An HTTP server for ``gateway``'s application (uvicorn with httptools, on this loop)."""
    config = uvicorn.Config(
        gateway.app,
        host=host,
        port=port,
        http="httptools",
        loop="none",
        lifespan="off",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


async def serve(settings: Settings) -> None:
    """Run a gateway and its HTTP server; returns after a graceful shutdown."""
    gateway = await Gateway.open(settings)
    gateway.start()
    server = server_for(gateway, settings.http.host, settings.http.port, settings.log_level)
    try:
        await server.serve()
    finally:
        await gateway.close()
