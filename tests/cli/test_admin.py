"""``mesiji account | key | sender | stoplist`` against a real SQLite database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mesiji.cli import main


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "mesiji.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return path


def mesiji(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main([*args[:2], "--config", str(config), *args[2:]])
    return status, capsys.readouterr().out


def test_account_key_sender_and_stop_list_lifecycle(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = mesiji(
        config, capsys, "account", "create", "--name", "Shop LLC", "--website", "shop.ge",
        "--credits", "250",
    )  # fmt: skip
    assert status == 0
    assert "account 1 created: Shop LLC" in out

    status, out = mesiji(config, capsys, "key", "create", "1", "--label", "shop backend")
    key = out.splitlines()[-1]
    assert re.fullmatch(r"mk_[A-Za-z0-9_-]{32}", key)
    status, out = mesiji(config, capsys, "key", "list", "1")
    assert f"{key[:8]}…\tshop backend\tactive\tunused" in out
    assert key not in out  # shown once, never again

    status, out = mesiji(config, capsys, "sender", "set", "1", "Shop", "--status", "active")
    assert out.strip() == "sender 'Shop': active"
    status, out = mesiji(config, capsys, "sender", "list", "1")
    assert out.strip() == "Shop\tactive"

    csv_file = tmp_path / "optouts.csv"
    csv_file.write_text("number\n599000001\n+995599000002\nnot-a-number\n", encoding="utf-8")
    status, out = mesiji(
        config, capsys, "stoplist", "add", "1", "599000001", "--csv", str(csv_file)
    )
    assert status == 0
    assert "skipped 'not-a-number'" in out
    assert "2 number(s) added, 1 already listed" in out
    status, out = mesiji(config, capsys, "stoplist", "list", "1")
    assert out.split() == ["995599000001", "995599000002"]

    status, out = mesiji(config, capsys, "account", "credit", "1", "-50")
    assert out.strip() == "account 1: balance 200"
    status, out = mesiji(config, capsys, "key", "revoke", "1", "1")
    assert out.strip() == "key 1 revoked"
    status, out = mesiji(config, capsys, "account", "suspend", "1")
    assert "\tsuspended\t" in out


def test_errors_are_messages_not_tracebacks(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["account", "credit", "--config", str(config), "42", "10"])
    assert status == 1
    assert capsys.readouterr().err.startswith("error: ")
    status = main(["account", "credit", "--config", str(config), "1", "-5"])
    assert status == 1


def test_an_account_callback_url_follows_the_api_rule(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create = ["account", "create", "--config", str(config), "--name", "Shop"]
    assert main([*create, "--callback-url", "http://169.254.169.254/latest/"]) == 1
    assert capsys.readouterr().err == "error: destination not allowed: link-local address\n"
    assert main([*create, "--callback-url", "https://u:p@shop.ge/cb"]) == 1
    assert "user name or password" in capsys.readouterr().err
    assert main(["account", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out == ""  # nothing was created
    # An administrator who allows the network may point an account at it.
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[webhooks]\nallowed_networks = ["10.0.0.0/8"]\n',
        encoding="utf-8",
    )
    assert main([*create, "--callback-url", "http://10.1.2.3/sms/status"]) == 0
    assert "account 1 created: Shop" in capsys.readouterr().out


def test_account_send_rate(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mesiji(config, capsys, "account", "create", "--name", "Shop LLC")[0] == 0
    status, out = mesiji(config, capsys, "account", "rate", "1", "20")
    assert (status, out.strip()) == (0, "account 1: send requests a second: 20")
    status, out = mesiji(config, capsys, "account", "rate", "1", "0")
    assert out.strip() == "account 1: send requests a second: no limit"
    status, out = mesiji(config, capsys, "account", "rate", "1", "default")
    assert out.strip() == "account 1: send requests a second: the gateway's default"
    with pytest.raises(SystemExit):  # argparse: one line on stderr, exit 2
        mesiji(config, capsys, "account", "rate", "1", "-5")
    assert "not 'default' or a whole number" in capsys.readouterr().err
    assert mesiji(config, capsys, "account", "rate", "7", "5")[0] == 1  # no such account
