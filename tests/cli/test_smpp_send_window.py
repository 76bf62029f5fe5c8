"""Issue 9's window scenarios through ``mesiji smpp send``, over real sockets.

Window 1 and 2 with keepalives on, three parts, every one answered and its receipt printed:
against Mesiji's own simulator, and against the third-party SMSC harness (standard-library
Python, shares no code with Mesiji) when this machine has it. The keepalive interval is shorter
than the receipt delay, so enquire_links go out while the command waits for receipts.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesiji.cli import build_parser, smpp_send
from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.testing import free_port

HARNESS = Path("/work/shared/peers/smsc_sim.py")
TEXT = "ა" * 100 + "ბ" * 100  # three UCS-2 parts


async def run_send(port: int, window: int) -> tuple[int, str]:
    args = build_parser().parse_args(
        [
            "smpp", "send",
            "--smsc", f"127.0.0.1:{port}",
            "--system-id", "engineer",
            "--password", "pw",
            "--from", "Mesiji",
            "--to", "995599123456",
            "--text", TEXT,
            "--window", str(window),
            "--enquire-link", "0.1",
            "--wait-receipt",
        ]
    )  # fmt: skip
    out = io.StringIO()
    status = await smpp_send.send(args, out)
    return status, out.getvalue()


def check_transcript(text: str, window: int) -> list[str]:
    """What every scenario must print; returns the message ids."""
    in_flight = peak = 0
    for line in text.splitlines():
        if re.match(r"> submit_sm #\d+", line):
            in_flight += 1
            peak = max(peak, in_flight)
        elif re.match(r"< submit_sm_resp #\d+ ESME_ROK", line):
            in_flight -= 1
    assert peak <= window, text
    assert in_flight == 0, text
    found = re.search(r"submitted 3 part\(s\): (\S+), (\S+), (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    ids = list(found.groups())
    assert len(set(ids)) == 3
    assert re.findall(r"receipt for (\w+): delivered", text) == ids
    # Keepalives went out and were answered; none took a window slot.
    assert re.search(r"> enquire_link #(\d+)\n< enquire_link_resp #\1 ESME_ROK", text), text
    assert re.search(r"> unbind #\d+\n< unbind_resp #\d+ ESME_ROK", text), text
    return ids


@pytest.mark.parametrize("window", [1, 2])
async def test_window_with_keepalives_against_the_simulator(window: int) -> None:
    async with SmscSimulator(SimulatorSettings(port=0, receipt_delay=0.4)) as simulator:
        status, text = await run_send(simulator.port, window)
        submitted = [record.message_id for record in simulator.submitted]
    assert status == 0, text
    assert check_transcript(text, window) == submitted


@pytest.fixture
def harness() -> Iterator[int]:
    if not HARNESS.exists():
        pytest.skip(f"the third-party SMSC harness {HARNESS} is not on this machine")
    port = free_port()
    argv = [sys.executable, str(HARNESS), "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(  # noqa: S603 - a fixed program and arguments
        [*argv, "--dlr-delay", "0.4", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it listens
        assert f"listening on 127.0.0.1:{port}" in line, line
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("window", [1, 2])
async def test_window_with_keepalives_against_the_third_party_harness(
    harness: int, window: int
) -> None:
    status, text = await run_send(harness, window)
    assert status == 0, text
    ids = check_transcript(text, window)
    assert all(re.fullmatch(r"[0-9A-F]+", i) for i in ids)  # the harness's id format
