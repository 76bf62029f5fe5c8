"""The batch path: N messages sent as requests of 1,000 recipients, timed at the SMSC.

Runs the harness's SMSC simulator (``../shared/peers/smsc_sim.py``, receipts after 1 s) and
``bench/harness_gateway.py`` (SQLite in a temporary directory) as separate processes on
127.0.0.1, posts the messages to ``/v1/messages`` with a few requests in flight, and reads the
simulator's own statistics: how fast submit_sm arrived, and when the last one did. The issue's
goal is 100,000 messages reaching the simulator at 20,000 msg/s or more.

    .venv/bin/python bench/bulk_bench.py [-n 100000] [--batch 1000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mesiji.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("MESIJI_PEERS_DIR", ROOT.parent / "shared" / "peers"))


def sim_stats(path: Path) -> dict[str, object]:
    try:
        data: dict[str, object] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


async def send_all(port: int, n: int, batch: int, concurrency: int) -> tuple[int, float]:
    """Post ``n`` messages in requests of ``batch``; the number accepted and the seconds taken."""
    accepted = 0
    next_start = 0
    started = time.perf_counter()
    headers = {"Authorization": "Bearer bench"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
    ) as http:

        async def worker() -> None:
            nonlocal accepted, next_start
            while next_start < n:
                first = next_start
                next_start += batch
                count = min(batch, n - first)
                body = {
                    "sender": "12345",
                    "messages": [
                        {"to": f"+995599{(first + i) % 1_000_000:06d}", "text": f"bulk {first + i}"}
                        for i in range(count)
                    ],
                }
                response = await http.post("/v1/messages", json=body)
                if response.status_code == 201:
                    accepted += len(response.json()["messages"])
                else:
                    print(f"request at {first}: HTTP {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return accepted, time.perf_counter() - started


def wait_http(port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the gateway did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after (s)")
    args = parser.parse_args()
    sim_port, http_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="mesiji-bulk-") as scratch:
        stats_file = Path(scratch) / "sim.json"
        sim = subprocess.Popen(  # noqa: S603 - the harness's own simulator, fixed arguments
            [sys.executable, str(PEERS / "smsc_sim.py"), "--port", str(sim_port),
             "--dlr-delay", "1", "--stats-file", str(stats_file), "--stats-interval", "0.5",
             "--quiet"],
        )  # fmt: skip
        gateway = subprocess.Popen(  # noqa: S603 - our own gateway, fixed arguments
            [sys.executable, str(ROOT / "bench" / "harness_gateway.py"), str(sim_port),
             str(http_port), str(Path(scratch) / "data")],
        )  # fmt: skip
        try:
            wait_http(http_port)
            accepted, accept_s = asyncio.run(
                send_all(http_port, args.n, args.batch, args.concurrency)
            )
            deadline = time.monotonic() + args.timeout
            stats = sim_stats(stats_file)
            while int(str(stats.get("submit_sm", 0))) < accepted and time.monotonic() < deadline:
                time.sleep(0.5)
                stats = sim_stats(stats_file)
            submitted = int(str(stats.get("submit_sm", 0)))
            first = float(str(stats.get("first_submit_ts") or 0))
            last = float(str(stats.get("last_submit_ts") or 0))
        finally:
            for process in (gateway, sim):
                process.terminate()
            for process in (gateway, sim):
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
    span = last - first if last > first else float("nan")
    print(f"bulk: {args.n} messages in requests of {args.batch}, {args.concurrency} in flight")
    print(f"  accepted {accepted} in {accept_s:.1f} s = {accepted / accept_s:,.0f} msg/s")
    print(
        f"  submit_sm at the simulator: {submitted} in {span:.1f} s = {submitted / span:,.0f} msg/s"
    )
    print("  goal: 20,000 msg/s at the simulator")
    return 0 if submitted >= accepted > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
