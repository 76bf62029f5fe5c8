"""uvicorn's HTTP/1.1 protocols with a deadline on each request head.

uvicorn closes a keep-alive connection that stays silent after a response
(``timeout_keep_alive``), but nothing bounds a connection that never completes a request
head: a client that connects and says nothing, or sends part of its headers and stops
(slowloris), holds its socket for as long as it likes. Here a connection is closed when a
request head is not complete ``header_timeout`` seconds after the connection opened or after
the first byte of that request arrived, as Go's ``ReadHeaderTimeout`` and nginx's
``client_header_timeout`` do. Nothing is answered: the client has not made a request yet.

The wait between two requests of a keep-alive connection stays uvicorn's own
``timeout_keep_alive``; a request body is the application's to read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mesiji.errors import ConfigError

__all__ = ["HeadTimeoutH11Protocol", "HeadTimeoutHttpToolsProtocol", "http_protocol"]


class _HeadDeadline:
    """One connection's timer: closes it unless disarmed in time."""

    __slots__ = ("_handle", "_loop", "_on_expiry", "_seconds")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seconds: float, on_expiry: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._seconds = seconds
        self._on_expiry = on_expiry
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        """Start counting, unless already counting."""
        if self._handle is None:
            self._handle = self._loop.call_later(self._seconds, self._expire)

    def disarm(self) -> None:
        """Stop counting: the head is complete, or the connection is gone."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        self._on_expiry()


class HeadTimeoutHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` closing a connection whose request head is late."""

    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's keep-alive handler closes the connection the way this protocol should.
        self._head = _HeadDeadline(self.loop, self.header_timeout, self.timeout_keep_alive_handler)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head.disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._head.arm()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head.disarm()
        super().on_headers_complete()


class HeadTimeoutH11Protocol(H11Protocol):
    """:class:`H11Protocol` closing a connection whose request head is late."""

    header_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = _HeadDeadline(self.loop, self.header_timeout, self.timeout_keep_alive_handler)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head.disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # h11 reports a request only once its head is whole; until then the peer is IDLE
        # (h11 docs, "Connection states").
        if self.conn.their_state is h11.IDLE:
            self._head.arm()
        super().data_received(data)

    def handle_events(self) -> None:
        # Also called after a response, for a request pipelined behind it.
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._head.disarm()


def http_protocol(header_timeout: float, parser: str = "httptools") -> type[asyncio.Protocol]:
    """The protocol class to give ``uvicorn.Config(http=...)``: ``parser`` is ``httptools`` or
    ``h11``, and a request head must be complete within ``header_timeout`` seconds."""
    if header_timeout <= 0:
        raise ConfigError(f"http.header_timeout must be positive, not {header_timeout}")
    base = {"httptools": HeadTimeoutHttpToolsProtocol, "h11": HeadTimeoutH11Protocol}[parser]
    return type(base.__name__, (base,), {"header_timeout": header_timeout})
