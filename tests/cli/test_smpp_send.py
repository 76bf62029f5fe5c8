"""``mesiji smpp send`` and ``mesiji demo``, in process and as separate programs."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from mesiji.cli import build_parser, smpp_send
from mesiji.simulator import SimulatorSettings, SmscSimulator

GEORGIAN_200 = "ა" * 100 + "ბ" * 100


def send_argv(port: int, *extra: str) -> list[str]:
    """``mesiji smpp send``'s arguments: the 200 Georgian letters to 995599123456."""
    return [
        "smpp", "send",
        "--smsc", f"127.0.0.1:{port}",
        "--system-id", "engineer",
        "--password", "pw",
        "--from", "Mesiji",
        "--to", "995599123456",
        "--text", GEORGIAN_200,
        *extra,
    ]  # fmt: skip


def send_args(port: int, *extra: str) -> argparse.Namespace:
    return build_parser().parse_args(send_argv(port, *extra))


async def test_georgian_text_goes_out_in_three_parts_and_every_receipt_prints() -> None:
    async with SmscSimulator(SimulatorSettings(port=0, receipt_delay=0.0)) as simulator:
        out = io.StringIO()
        status = await smpp_send.send(send_args(simulator.port, "--wait-receipt"), out)
        submitted = list(simulator.submitted)
    text = out.getvalue()
    assert status == 0, text
    assert len(submitted) == 3
    udhs = [record.short_message[:6] for record in submitted]
    reference = udhs[0][3]
    assert udhs == [bytes([5, 0, 3, reference, 3, seq]) for seq in (1, 2, 3)]
    assert all(getattr(record.pdu, "data_coding", None) == 0x08 for record in submitted)
    assert [len(record.short_message) - 6 for record in submitted] == [134, 134, 132]
    assert "(part 1/3)" in text
    assert "(part 3/3)" in text
    assert text.count("submit_sm_resp #") == 3
    receipts = re.findall(r"receipt for (\w+): delivered", text)
    assert receipts == [record.message_id for record in submitted]


async def test_hex_option_prints_the_bytes_of_each_pdu() -> None:
    async with SmscSimulator(SimulatorSettings(port=0)) as simulator:
        out = io.StringIO()
        status = await smpp_send.send(send_args(simulator.port, "--hex"), out)
    assert status == 0
    # enquire_link-free exchange: bind_transceiver (0x00000009) then its response (0x80000009)
    assert re.search(r"^    [0-9a-f]{8}00000009", out.getvalue(), re.MULTILINE)
    assert re.search(r"^    [0-9a-f]{8}80000009", out.getvalue(), re.MULTILINE)


def test_unreachable_smsc_is_a_clear_error_not_a_traceback() -> None:
    out = io.StringIO()
    args = send_args(1, "--timeout", "0.5")
    assert smpp_send.run(args, out) == 1
    assert out.getvalue().splitlines()[-1].startswith("error: could not bind")


@pytest.fixture
def simulator_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mesiji", "smsc-sim", "--port", "0", "--receipt-delay", "0.2"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert match, line
    try:
        yield process, int(match.group(1))
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_as_a_new_user_would_simulator_in_one_terminal_send_in_another(
    simulator_process: tuple[subprocess.Popen[str], int],
) -> None:
    _, port = simulator_process
    result = subprocess.run(  # noqa: S603 - our own program, fixed arguments
        [sys.executable, "-m", "mesiji", *send_argv(port, "--wait-receipt")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("> submit_sm #") == 3
    assert len(re.findall(r"receipt for \w+: delivered", result.stdout)) == 3


def test_demo_runs_a_gateway_and_its_message_is_delivered() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mesiji", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP 201" in result.stdout
    assert "curl -X POST http://127.0.0.1:" in result.stdout
    assert re.search(r"message \d+: delivered", result.stdout)
    assert "3 part(s) to 995599123456 (Magti): delivered" in result.stdout
