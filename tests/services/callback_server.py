"""A small HTTP/1.1 server on 127.0.0.1 that records callbacks and answers as scripted."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    #: The request target: path and query string, as sent.
    target: str
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes
    #: Which connection (1, 2, ...) carried it.
    connection: int


class CallbackServer:
    """Answers each request with the next of ``answers`` ((status, body)), then 200 "OK"."""

    def __init__(self, answers: list[tuple[int, bytes]] | None = None) -> None:
        self.answers: deque[tuple[int, bytes]] = deque(answers or [])
        self.requests: list[Received] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._arrived = asyncio.Event()

    async def start(self) -> str:
        """Listen on a free port; returns the base URL."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def wait_requests(self, count: int, limit: float = 5.0) -> list[Received]:
        async with asyncio.timeout(limit):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests

    async def close(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, target, headers, body, connection))
                self._arrived.set()
                status, answer = self.answers.popleft() if self.answers else (200, b"OK")
                writer.write(
                    f"HTTP/1.1 {status} Scripted\r\nContent-Length: {len(answer)}\r\n"
                    "Content-Type: text/plain\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
