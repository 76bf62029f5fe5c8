"""``smsc-sim`` options and a real run of ``python -m mesiji.simulator``."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

from mesiji.errors import ConfigError
from mesiji.simulator import Outcome
from mesiji.simulator.cli import add_parser, build_parser, run, settings_from_args
from mesiji.smpp.constants import BindMode

from .conftest import SAFETY, connect_tcp


def test_options_become_settings(tmp_path: Path) -> None:
    log = str(tmp_path / "x.jsonl")
    args = build_parser().parse_args(
        [
            "--port", "0",
            "--receipt-delay", "2.5",
            "--system-id", "alice", "--password", "a",
            "--system-id", "bob", "--password", "b",
            "--outcomes", "delivered=90,undelivered=5,expired=3,rejected=2",
            "--throttle-every", "10",
            "--max-tps", "250",
            "--drop-after", "1000",
            "--receipt-before-response",
            "--submit-log", log,
            "--seed", "3",
        ]
    )  # fmt: skip
    settings = settings_from_args(args)

    assert settings.port == 0
    assert settings.receipt_delay == 2.5
    assert dict(settings.credentials or {}) == {"alice": "a", "bob": "b"}
    assert settings.outcomes[Outcome.undelivered] == 5
    assert settings.throttle_every == 10
    assert settings.max_tps == 250
    assert settings.drop_after == 1000
    assert settings.receipt_before_response
    assert settings.submit_log == log
    assert settings.seed == 3


def test_defaults_accept_any_bind() -> None:
    settings = settings_from_args(build_parser().parse_args([]))
    assert settings.credentials is None
    assert settings.port == 2775
    assert dict(settings.outcomes) == {Outcome.delivered: 1.0}


def test_unpaired_credentials_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["--system-id", "alice"])
    with pytest.raises(ConfigError):
        settings_from_args(args)
    assert run(args) == 2
    assert "--password" in capsys.readouterr().err


def test_bad_outcomes_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--outcomes", "delivered=90,lost=10"])
    assert "OUTCOME=WEIGHT" in capsys.readouterr().err


def test_registers_as_a_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="mesiji")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["smsc-sim", "--port", "0", "--throttle-every", "5"])
    assert args.func is run
    assert settings_from_args(args).throttle_every == 5


async def test_python_m_runs_until_sigint() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mesiji.simulator", "--port", "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(SAFETY * 2):
            first = (await process.stdout.readline()).decode()
        match = re.fullmatch(r"Mesiji SMSC simulator listening on 127\.0\.0\.1:(\d+)\n", first)
        assert match, first
        esme = await connect_tcp(int(match.group(1)))
        assert (await esme.bind(BindMode.transmitter)).command_status == 0
        assert (await esme.submit()).command_status == 0

        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(SAFETY * 2):
            out, err = await process.communicate()
            await esme.wait_closed()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 0, err.decode()
    assert "Final stats:" in out.decode()
    assert "accepted=1 " in out.decode()
    # The simulator unbound the ESME before stopping.
    assert any(pdu.command_id.name == "unbind" for direction, pdu in esme.wire if direction == "<")
