"""``mesiji demo``: a whole gateway on this machine, and a Georgian SMS sent and delivered.

It starts the built-in SMSC simulator, a gateway on a fresh SQLite database with a demo
account, key and sender, sends a message through the HTTP API exactly as the printed ``curl``
would, and follows its status until the simulator's receipt marks it delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import httpx
import uvloop

from mesiji.bootstrap import Gateway
from mesiji.cli.serve import server_for
from mesiji.domain.callback_urls import LOOPBACK
from mesiji.domain.keys import generate_api_key
from mesiji.settings import ChannelSettings, HttpSettings, Settings, WebhookSettings
from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.storage.records import NewAccount, SenderStatus

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

#: 200 Georgian letters: more than two UCS-2 parts can hold (2 x 67), so three go out.
DEMO_TEXT = (
    "გამარჯობა! ეს არის მესიჯის დემო: ქართული ტექსტი იგზავნება სამ ნაწილად, "
    "თითოეულს თავისი მიწოდების ანგარიში მოსდევს. მესიჯი არის ღია კოდის SMS "
    "კარიბჭე ოპერატორებთან SMPP 3.4 პროტოკოლით სამუშაოდ. მადლობა!"
)


def add_parser(subparsers: Subparsers) -> None:
    """Register ``demo``."""
    demo = subparsers.add_parser(
        "demo", help="run a gateway with the SMSC simulator and send a Georgian SMS through it"
    )
    demo.add_argument("--port", type=int, default=0, help="HTTP port (default: any free one)")
    demo.add_argument("--to", default="995599123456")
    demo.add_argument("--text", default=DEMO_TEXT)
    demo.add_argument("--data-dir", type=Path, help="keep the database here (default: temporary)")
    demo.add_argument(
        "--serve", action="store_true", help="keep the gateway running afterwards (Ctrl-C stops)"
    )
    demo.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when the message was delivered."""
    with tempfile.TemporaryDirectory(prefix="mesiji-demo-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        try:
            return uvloop.run(_demo(args, data_dir, out))
        except KeyboardInterrupt:
            return 0


async def _demo(args: argparse.Namespace, data_dir: Path, out: TextIO) -> int:
    async with SmscSimulator(SimulatorSettings(port=0, receipt_delay=0.5)) as simulator:
        settings = Settings(
            data_dir=data_dir,
            log_level="warning",
            http=HttpSettings(port=args.port),
            channels=(ChannelSettings(name="simulator", port=simulator.port, window=10),),
            # Everything runs on this machine: callbacks to it are allowed (not by default).
            webhooks=WebhookSettings(allowed_networks=LOOPBACK),
        )
        gateway = await Gateway.open(settings)
        key = await _demo_account(gateway)
        gateway.start()
        server = server_for(gateway, "127.0.0.1", args.port, "warning")
        serving = asyncio.create_task(server.serve())
        try:
            port = await _bound_port(server, serving)
            print(f"SMSC simulator: 127.0.0.1:{simulator.port}", file=out)
            print(f"Gateway:        http://127.0.0.1:{port}  (API docs at /docs)", file=out)
            print(f"Database:       {data_dir / 'mesiji.db'}", file=out)
            print(f"Demo API key:   {key}\n", file=out)
            status = await _send_and_follow(args, port, key, out)
            if args.serve and status == 0:
                print("\nThe gateway keeps running; press Ctrl-C to stop.", file=out)
                await serving
        finally:
            server.should_exit = True
            await serving
            await gateway.close()
    return status


async def _demo_account(gateway: Gateway) -> str:
    store = gateway.store
    account = await store.create_account(NewAccount(name="Demo LLC", website="demo.ge"))
    await store.add_credits(account.id, 1000, "demo")
    await store.set_sender(account.id, "Mesiji", SenderStatus.ACTIVE)
    key = generate_api_key()
    await store.create_api_key(account.id, key.key_hash, key.prefix, "demo")
    return key.secret


async def _bound_port(server: Any, serving: asyncio.Task[None]) -> int:
    while not server.started:
        if serving.done():
            serving.result()  # raises the reason, e.g. the port is taken
        await asyncio.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


async def _send_and_follow(args: argparse.Namespace, port: int, key: str, out: TextIO) -> int:
    url = f"http://127.0.0.1:{port}"
    body = {"to": args.to, "sender": "Mesiji", "text": args.text}
    print("Sending, as this curl would:", file=out)
    data = shlex.quote(json.dumps(body, ensure_ascii=False))
    print(
        f"  curl -X POST {url}/v1/messages -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' -d {data}\n",
        file=out,
    )
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
        response = await http.post("/v1/messages", json=body)
        print(f"HTTP {response.status_code}: {response.text}", file=out)
        if response.status_code != 201:
            return 1
        message = response.json()["messages"][0]
        seen = ""
        for _ in range(300):
            detail = (await http.get(f"/v1/messages/{message['id']}")).json()
            if detail["status"] != seen:
                seen = detail["status"]
                print(f"message {message['id']}: {seen}", file=out)
            if seen in {"delivered", "undelivered", "expired", "rejected", "failed", "unknown"}:
                break
            await asyncio.sleep(0.05)
    print(
        f"\n{message['segments']} part(s) to {message['to']} ({message.get('operator')}): {seen}",
        file=out,
    )
    return 0 if seen == "delivered" else 1
