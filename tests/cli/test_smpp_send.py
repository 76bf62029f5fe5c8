"""``mesiji smpp send`` and ``mesiji demo``, in process and as separate programs."""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mesiji.cli import build_parser, main, smpp_send
from mesiji.errors import BindError
from mesiji.simulator import SimulatorSettings, SmscSimulator
from mesiji.testing import free_port

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


def test_a_refused_connection_fails_at_once_in_one_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    port = free_port()
    # With 60 s to bind, a retry loop would end in "not bound within 60s" (and the test's
    # timeout); the refusal itself is what ends the command.
    assert smpp_send.run(send_args(port, "--timeout", "60"), out, err) == 1
    assert err.getvalue() == (
        f"error: cannot connect to 127.0.0.1:{port}: connection refused"
        " (is an SMSC listening there?)\n"
    )
    assert out.getvalue() == f"binding to 127.0.0.1:{port} as 'engineer'\n"


async def test_a_refused_bind_fails_at_once_and_submits_nothing() -> None:
    settings = SimulatorSettings(port=0, credentials={"engineer": "secret"})
    async with SmscSimulator(settings) as simulator:
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(BindError, match="ESME_RINVPASWD"):
            await smpp_send.send(send_args(simulator.port, "--timeout", "60"), out, err)
        assert not simulator.submitted


def test_a_refused_bind_is_one_line_from_the_command() -> None:
    with simulator("--system-id", "engineer", "--password", "secret") as (_, port):
        result = subprocess.run(  # noqa: S603 - our own program, fixed arguments
            [sys.executable, "-m", "mesiji", *send_argv(port, "--timeout", "60")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: could not bind to 127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("smsc", "message"),
    [
        ("127.0.0.1:x", "the port must be a number from 1 to 65535"),
        ("127.0.0.1:70000", "the port must be a number from 1 to 65535"),
        ("2001:db8::1:2775:x", "write an IPv6 address as [::1]:2775"),
        (":2775", "give a host"),
    ],
)
def test_a_bad_smsc_address_is_a_usage_error(
    smsc: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = send_argv(2775)
    argv[argv.index("--smsc") + 1] = smsc
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@contextmanager
def simulator(*extra: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``mesiji smsc-sim`` in a process of its own, with ``extra`` options; it and its port."""
    process = subprocess.Popen(  # noqa: S603 - our own program, fixed arguments
        [sys.executable, "-m", "mesiji", "smsc-sim", "--port", "0", "--receipt-delay", "0.2",
         *extra],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
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


@pytest.fixture
def simulator_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    with simulator() as running:
        yield running


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


def test_a_field_too_long_is_refused_before_connecting() -> None:
    out, err = io.StringIO(), io.StringIO()
    args = send_args(free_port(), "--from", "X" * 21)
    assert smpp_send.run(args, out, err) == 1
    assert err.getvalue() == "error: source_addr is 21 octets; at most 20 allowed\n"
    assert out.getvalue() == ""
