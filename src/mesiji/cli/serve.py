"""``mesiji serve``: the gateway: HTTP APIs, SMPP channels, dispatch, receipts, callbacks."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn
import uvloop

from mesiji.bootstrap import Gateway
from mesiji.cli.admin import add_config_argument, settings_from
from mesiji.errors import MesijiError
from mesiji.logs import configure_logging
from mesiji.runtime import tune_garbage_collector
from mesiji.settings import Settings
from mesiji.web.protocols import http_protocol

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


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGINT/SIGTERM once the HTTP side has stopped.

    uvicorn raises the captured signal again after its own shutdown; with the default handler
    the process would then die before the gateway drains its dispatchers, records what is in
    flight and unbinds. Here the signal only asks the server to exit, and the caller shuts
    the gateway down in order.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def server_for(
    gateway: Gateway, host: str, port: int, log_level: str, header_timeout: float = 10.0
) -> uvicorn.Server:
    """An HTTP server for ``gateway``'s application (uvicorn with httptools, on this loop)."""
    config = uvicorn.Config(
        gateway.app,
        host=host,
        port=port,
        http=http_protocol(header_timeout),
        loop="none",
        lifespan="off",
        access_log=False,
        # Nothing reads the client's address (no access log), so X-Forwarded-* is not parsed.
        proxy_headers=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )
    return _Server(config)


async def serve(
    settings: Settings, *, prepare: Callable[[Gateway], Awaitable[None]] | None = None
) -> None:
    """Run a gateway and its HTTP server; returns after a graceful shutdown.

    ``prepare`` runs on the opened gateway before anything starts (the benchmark harness sets
    up its account there), so its objects are built before the collector is tuned.
    """
    gateway = await Gateway.open(settings)
    if prepare is not None:
        await prepare(gateway)
    tune_garbage_collector()
    gateway.start()
    http = settings.http
    try:
        server = server_for(gateway, http.host, http.port, settings.log_level, http.header_timeout)
        await server.serve()
    finally:
        await gateway.close()
