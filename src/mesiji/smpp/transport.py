"""The one transport seam of an SMPP link: what :class:`~mesiji.smpp.connection.SmppConnection`
needs from a byte stream.

An asyncio transport (a TCP socket) satisfies it as it is; :mod:`mesiji.testing.memory` has a
connected in-memory pair for tests that open no socket.
"""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    """A byte stream the connection writes to and closes (asyncio's transport surface)."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the peer."""
        ...

    def close(self) -> None:
        """Close after the queued data; the connection then gets ``connection_lost``."""
        ...

    def is_closing(self) -> bool:
        """Whether :meth:`close` was called or the peer went away."""
        ...


__all__ = ["Transport"]
