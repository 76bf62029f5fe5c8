"""The request-head deadline on real sockets: uvicorn with the gateway's protocol classes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from mesiji.errors import ConfigError
from mesiji.web.protocols import http_protocol

# Short, as the test waits for it in real time; the default is 10 s.
HEAD_TIMEOUT = 0.2
REQUEST = b"GET / HTTP/1.1\r\nHost: mesiji.test\r\n\r\n"


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    headers = [(b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(params=["httptools", "h11"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    config = uvicorn.Config(
        _hello,
        host="127.0.0.1",
        port=0,
        http=http_protocol(HEAD_TIMEOUT, request.param),
        lifespan="off",
        log_level="warning",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection (EOF, nothing answered) within ``seconds``."""
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b""
    except TimeoutError:
        return False


async def test_a_half_sent_head_is_closed_after_the_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: mesiji.test\r\nX-Slow: ")
    await writer.drain()
    assert await _closed_within(reader, 5.0)
    writer.close()


async def test_a_silent_connection_is_closed_after_the_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await _closed_within(reader, 5.0)
    writer.close()


async def test_a_keep_alive_connection_outlives_the_timeout_between_requests(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):
        writer.write(REQUEST)
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        assert await reader.readexactly(5) == b"hello"
        # Idle longer than the head deadline: only uvicorn's keep-alive timeout (30 s here)
        # governs the wait between requests.
        assert not await _closed_within(reader, HEAD_TIMEOUT * 3)
    writer.close()


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        http_protocol(0)
