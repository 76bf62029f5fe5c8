"""The gateway as the peer benchmark runs it: ``harness-gateway SIM_PORT HTTP_PORT DATA_DIR``.

One transceiver channel to the simulator on 127.0.0.1:SIM_PORT, HTTP on 127.0.0.1:HTTP_PORT,
state in DATA_DIR (set up when empty, reused after a restart), an account whose API key is
``bench`` and sender ``12345`` active. It runs in the foreground and ends on SIGTERM.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvloop

from mesiji.bootstrap import Gateway
from mesiji.cli.serve import serve
from mesiji.domain.callback_urls import LOOPBACK
from mesiji.domain.keys import hash_api_key
from mesiji.settings import ChannelSettings, HttpSettings, Settings, WebhookSettings
from mesiji.storage.records import NewAccount, SenderStatus

BENCH_KEY = "bench"
CREDITS = 10_000_000


async def set_up(gateway: Gateway) -> None:
    """The benchmark's account, key and sender, unless an earlier run left them."""
    if not await gateway.store.list_accounts():
        account = await gateway.store.create_account(NewAccount(name="Bench"))
        await gateway.store.add_credits(account.id, CREDITS, "benchmark")
        await gateway.store.set_sender(account.id, "12345", SenderStatus.ACTIVE)
        await gateway.store.create_api_key(account.id, hash_api_key(BENCH_KEY), "bench", "")


def settings_for(sim_port: int, http_port: int, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        log_level="warning",
        http=HttpSettings(host="127.0.0.1", port=http_port),
        channels=(ChannelSettings(name="sim", port=sim_port, system_id="bench", window=100),),
        # The benchmark's callback receivers listen on 127.0.0.1: allowed explicitly.
        webhooks=WebhookSettings(allowed_networks=LOOPBACK),
    )


if __name__ == "__main__":
    sim, http, data = sys.argv[1:4]
    uvloop.run(serve(settings_for(int(sim), int(http), Path(data)), prepare=set_up))
