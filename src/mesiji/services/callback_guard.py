"""The callback HTTP client's guard: connect only to allowed addresses, say why briefly.

Names are resolved once, every address the answer holds is checked against the
:class:`~mesiji.domain.callback_urls.DestinationPolicy`, and aiohttp connects to the addresses
that passed, never resolving again: a name that answers a public address to a check and a
private one to the connection (DNS rebinding) has nothing to slip through. An address written
in the URL is not resolved by aiohttp; the notifier checks it with the same policy before it
sends.

What a receiver answers is never shown to the client: a failed attempt is stored with a status
code and a short fixed reason (:func:`failure_reason`), the details go to the log only.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from mesiji.domain.callback_urls import DestinationPolicy, host_address

__all__ = [
    "DestinationRefusedError",
    "GuardedResolver",
    "failure_reason",
    "refused_destination",
]


class DestinationRefusedError(OSError):
    """A name resolved to addresses none of which a callback may reach. An ``OSError``, as
    resolvers raise, so aiohttp reports it as a failed connection (``os_error``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (aiohttp's default resolver when None) and keeps only the
    addresses ``policy`` allows; :class:`DestinationRefusedError` when none is left."""

    def __init__(self, policy: DestinationPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        refusal = "destination not allowed: no address"
        for answer in answers:
            # A scoped link-local answer comes as "fe80::1%eth0".
            address = host_address(answer["host"].partition("%")[0])
            why = (
                "destination not allowed: unrecognised address"
                if address is None
                else self._policy.refusal(address)
            )
            if why is None:
                kept.append(answer)
            else:
                refusal = why
        if not kept:
            raise DestinationRefusedError(refusal)
        return kept

    async def close(self) -> None:
        await self._inner.close()


def refused_destination(exc: BaseException) -> str | None:
    """The reason when ``exc`` is a connection refused by the guard, else None."""
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    return cause.reason if isinstance(cause, DestinationRefusedError) else None


def failure_reason(exc: BaseException) -> str:
    """A short fixed reason for a failed attempt: nothing a receiver or a resolver wrote."""
    refused = refused_destination(exc)
    if refused is not None:
        return refused
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "TLS error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_reason(exc.os_error)
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return "connection closed"
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return "invalid HTTP response"
    return "request failed"


def _connect_reason(error: OSError) -> str:
    if isinstance(error, socket.gaierror):
        return "name not resolved"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionResetError):
        return "connection closed"
    return "cannot connect"
