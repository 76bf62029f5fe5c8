"""Webhook clients compared: CPU per callback with aiohttp (what the notifier uses) and httpx.

Starts a small aiohttp server in a child process on 127.0.0.1 (answers 200 "OK" to every POST),
then, in this process, sends ``-n`` signed JSON POSTs with ``--concurrency`` in flight through
each client, the way the notifier sends them (one shared client, keep-alive, the body read up to
64 KiB, the whole request bounded by a timeout), and reports the CPU time this process spent
per request. Only the client side is measured: the server has its own process.

    .venv/bin/python bench/webhook_client_bench.py [-n 5000] [--concurrency 64] [--repeat 3]
                                                   [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
from yarl import URL

from mesiji.domain.keys import SIGNATURE_HEADER, webhook_signature_header

# The notifier's own body reader, so the aiohttp side does exactly what a callback does.
from mesiji.services.notify import _read_some as read_some

_MAX_BODY = 64 * 1024
_TIMEOUT = 10.0
_PAYLOAD = json.dumps(
    {
        "event": "status",
        "id": 123456,
        "reference": "order-17",
        "to": "995599123456",
        "status": "delivered",
        "error_code": None,
        "segments": 1,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:01.000Z",
    },
    separators=(",", ":"),
).encode()

Send = Callable[[str], Awaitable[int]]


def serve(port: int) -> None:
    """The receiver (child process): 200 "OK" to every request; prints its port when ready."""
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="OK")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _headers() -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: webhook_signature_header("whsec_bench", _PAYLOAD, int(time.time())),
    }


async def _read_httpx(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_BODY:
            break
    return b"".join(chunks)


async def run_client(name: str, base: str, n: int, concurrency: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``n`` POSTs through client ``name``."""
    if name == "httpx":
        # As the notifier configured httpx before aiohttp (see git history of notify.py).
        client = httpx.AsyncClient(
            timeout=_TIMEOUT,
            headers={"User-Agent": "Mesiji"},
            limits=httpx.Limits(max_connections=concurrency),
        )

        async def send(url: str) -> int:
            async with asyncio.timeout(_TIMEOUT):
                request = client.build_request("POST", url, headers=_headers(), content=_PAYLOAD)
                response = await client.send(request, stream=True)
                try:
                    await _read_httpx(response)
                finally:
                    await response.aclose()
            return response.status_code

        close: Callable[[], Awaitable[None]] = client.aclose
    else:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=15.0),
            headers={"User-Agent": "Mesiji"},
            timeout=aiohttp.ClientTimeout(),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

        async def send(url: str) -> int:
            # The notifier bounds attempts with one deadline watcher on its clock; a per-request
            # asyncio.timeout here would charge aiohttp with a timer the notifier does not use.
            async with session.request(
                "POST",
                URL(url, encoded=True),
                headers=_headers(),
                data=_PAYLOAD,
                allow_redirects=False,
            ) as response:
                await read_some(response)
                return response.status

        close = session.close
    try:
        await _drive(send, base, min(500, n), concurrency)  # warm-up: connections, caches
        cpu, wall = time.process_time(), time.perf_counter()
        await _drive(send, base, n, concurrency)
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await close()


async def _drive(send: Send, base: str, n: int, concurrency: int) -> None:
    left = n
    failures = 0

    async def worker(number: int) -> None:
        nonlocal left, failures
        while left > 0:
            left -= 1
            status = await send(f"{base}/hooks/{number}?account=7")
            failures += status != 200

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    if failures:
        raise RuntimeError(f"{failures} requests not answered 200")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="POSTs per run (default 5000)")
    parser.add_argument("--concurrency", type=int, default=64, help="in flight (default 64)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client (median)")
    parser.add_argument("--uvloop", action="store_true", help="run the clients on uvloop")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return

    server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--serve", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base = f"http://127.0.0.1:{int(server.stdout.readline())}"
        results: dict[str, list[tuple[float, float]]] = {"httpx": [], "aiohttp": []}
        for _ in range(args.repeat):
            for name, runs in results.items():
                run = run_client(name, base, args.n, args.concurrency)
                if args.uvloop:
                    import uvloop

                    runs.append(uvloop.run(run))
                else:
                    runs.append(asyncio.run(run))
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()

    loop = "uvloop" if args.uvloop else "asyncio"
    print(
        f"{args.n} POSTs x {args.repeat} runs, {args.concurrency} in flight, {loop}, "
        f"client CPU only (median):"
    )
    cpu_per_request = {}
    for name, runs in results.items():
        cpu = statistics.median(c for c, _ in runs) / args.n * 1e6
        rate = statistics.median(args.n / w for _, w in runs)
        cpu_per_request[name] = cpu
        spread = ", ".join(f"{c / args.n * 1e6:.0f}" for c, _ in runs)
        print(f"  {name:8} {cpu:6.0f} µs CPU/request ({spread}), {rate:7.0f} requests/s")
    ratio = cpu_per_request["aiohttp"] / cpu_per_request["httpx"]
    print(f"  aiohttp / httpx CPU per request: {ratio:.2f} (httpx costs {1 / ratio:.1f}x)")


if __name__ == "__main__":
    main()
