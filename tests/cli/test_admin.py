"""``mesiji account | key | sender | stoplist`` against a real database, SQLite and PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mesiji.cli import main
from tests.cli.conftest import Mesiji, refused


def test_account_key_sender_and_stop_list_lifecycle(mesiji_db: Mesiji, tmp_path: Path) -> None:
    mesiji = mesiji_db
    ran = mesiji(
        "account", "create", "--name", "Shop LLC", "--website", "shop.ge", "--credits", "250"
    )
    assert ran.status == 0
    assert "account 1 created: Shop LLC, balance 250" in ran.out
    # One transaction: the opening balance and its ledger row came with the account.
    assert mesiji.rows("SELECT delta, reason FROM balance_ledger") == [(250, "opening balance")]

    ran = mesiji("key", "create", "1", "--label", "shop backend")
    key = ran.out.splitlines()[-1]
    assert re.fullmatch(r"mk_[A-Za-z0-9_-]{32}", key)
    ran = mesiji("key", "list", "1")
    assert f"{key[:8]}…\tshop backend\tactive\tunused" in ran.out
    assert key not in ran.out  # shown once, never again

    ran = mesiji("sender", "set", "1", "Shop", "--status", "active")
    assert ran.out.strip() == "sender 'Shop': active"
    ran = mesiji("sender", "list", "1")
    assert ran.out.strip() == "Shop\tactive"

    csv_file = tmp_path / "optouts.csv"
    csv_file.write_text("number\n599000001\n+995599000002\nnot-a-number\n", encoding="utf-8")
    ran = mesiji("stoplist", "add", "1", "599000001", "--csv", str(csv_file))
    assert ran.status == 0
    assert "skipped 'not-a-number'" in ran.out
    assert "2 number(s) added, 1 already listed" in ran.out
    ran = mesiji("stoplist", "list", "1")
    assert ran.out.split() == ["995599000001", "995599000002"]

    ran = mesiji("key", "revoke", "1", "1")
    assert ran.out.strip() == "key 1 revoked"
    ran = mesiji("account", "suspend", "1")
    assert "\tsuspended\t" in ran.out
    assert ran.err == ""


def test_a_debit_is_worded_as_one_and_so_is_its_ledger_row(mesiji_db: Mesiji) -> None:
    mesiji = mesiji_db
    mesiji("account", "create", "--name", "Shop", "--credits", "100")
    ran = mesiji("account", "credit", "1", "-30")
    assert ran.out.strip() == "account 1: 30 credits taken (manual debit), balance 70"
    ran = mesiji("account", "debit", "1", "20", "--reason", "refund of order 7")
    assert ran.out.strip() == "account 1: 20 credits taken (refund of order 7), balance 50"
    ran = mesiji("account", "credit", "1", "5")
    assert ran.out.strip() == "account 1: 5 credits added (manual top-up), balance 55"
    refused(mesiji("account", "debit", "1", "56"), "account 1 has 55 credits: cannot take 56")
    assert "send" not in mesiji("account", "credit", "1", "-500").err
    assert mesiji.rows("SELECT delta, reason FROM balance_ledger ORDER BY id") == [
        (100, "opening balance"),
        (-30, "manual debit"),
        (-20, "refund of order 7"),
        (5, "manual top-up"),
    ]


#: Commands refused for what they were given, and the words saying why. Account 1 exists.
REFUSED = [
    (["account", "create", "--name", "X", "--credits", "-5"], "cannot be negative"),
    (["account", "create", "--name", "X", "--callback-url", "ftp://x"], "http:// or https://"),
    (["account", "create", "--name", "X", "--callback-url", "http://a b"], "contains a space"),
    (["account", "create", "--name", "a\x00b"], "contains the character '\\x00'"),
    (["account", "create", "--name", "  "], "--name is empty"),
    (["account", "create", "--name", "X", "--website", "\udcff"], "contains the character"),
    (["account", "credit", "42", "10"], "no account 42"),
    (["account", "credit", "1", "-500"], "account 1 has 100 credits: cannot take 500"),
    (["account", "credit", "1", "0"], "zero credits"),
    (["account", "credit", "1", "5", "--reason", ""], "--reason is empty"),
    (["account", "debit", "1", "-5"], "positive number"),
    (["account", "suspend", "42"], "no account 42"),
    (["account", "activate", "42"], "no account 42"),
    (["key", "create", "42"], "no account 42"),
    (["key", "create", "1", "--label", "a\nb"], "contains the character"),
    (["key", "list", "42"], "no account 42"),
    (["key", "revoke", "42", "1"], "no account 42"),
    (["key", "revoke", "1", "99"], "account 1 has no active key 99"),
    (["sender", "set", "42", "Shop"], "no account 42"),
    (["sender", "set", "1", "this is way too long"], "cannot be a sender"),
    (["sender", "set", "1", "ბათუმი"], "cannot be a sender"),
    (["sender", "list", "42"], "no account 42"),
    (["stoplist", "add", "1", "--csv", "missing.csv"], "cannot read missing.csv"),
    (["stoplist", "add", "1", "not-a-number"], "no valid number given"),
    (["stoplist", "add", "1"], "give numbers"),
    (["stoplist", "add", "42", "599000001"], "no account 42"),
    (["stoplist", "remove", "42", "599000001"], "no account 42"),
    (["stoplist", "list", "42"], "no account 42"),
]


@pytest.mark.parametrize(("argv", "message"), REFUSED, ids=lambda v: " ".join(v)[:40])
def test_a_refused_command_says_why_in_one_line_and_writes_nothing(
    mesiji_db: Mesiji, argv: list[str], message: str
) -> None:
    mesiji_db("account", "create", "--name", "Shop", "--credits", "100")
    before = mesiji_db.counts()
    refused(mesiji_db(*argv), message)
    assert mesiji_db.counts() == before


def test_an_unreadable_csv_is_refused(mesiji_db: Mesiji, tmp_path: Path) -> None:
    mesiji_db("account", "create", "--name", "Shop")
    binary = tmp_path / "numbers.csv"
    binary.write_bytes(b"\xff\xfe5\x009\x009\x00")
    refused(mesiji_db("stoplist", "add", "1", "--csv", str(binary)), "not a UTF-8 CSV file")
    refused(mesiji_db("stoplist", "add", "1", "--csv", str(tmp_path)), "cannot read")
    assert mesiji_db.counts()["stop_list"] == 0


def test_the_sender_rule_is_the_apis(mesiji_db: Mesiji) -> None:
    mesiji_db("account", "create", "--name", "Shop")
    for name in ("Shop", "995599000001", "+995599000001", "A.B-C_D&E 1"):
        assert mesiji_db("sender", "set", "1", name).status == 0, name
    for name in ("", "123456789012345678", "Shop!", "ABCDEFGHIJKL", "Šop"):
        refused(mesiji_db("sender", "set", "1", name), "cannot be a sender")
    assert mesiji_db.counts()["senders"] == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["--log-level", "loud", "account", "list"],
        ["account", "credit", "٤٢", "10"],
        ["account", "credit", "99999999999999999999", "10"],
        ["account", "credit", "1", "1e3"],
        ["account", "credit", "1", "10000000000000"],
        ["account", "create", "--name", "X", "--price-per-segment", "-1"],
        ["key", "revoke", "1", "0"],
        ["messages", "list", "--account", "1", "--since", "yesterday"],
        ["messages", "list", "--account", "1", "--limit", "0"],
        ["messages", "show", "x"],
    ],
)
def test_malformed_arguments_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("mesiji")


def test_an_unreachable_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mesiji.toml"
    config.write_text('[database]\nurl = "postgresql://mesiji@127.0.0.1:1/none"\n')
    assert main(["account", "list", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: database unreachable")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('data_dir = "{tmp}/file/data"\n', "Not a directory"),
        ('[database]\nurl = "mysql://x"\n', "unsupported database"),
        ("oops = 1\n", "oops"),
        ("not toml [", "cannot read"),
    ],
)
def test_unusable_settings_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (tmp_path / "file").write_text("")
    config = tmp_path / "mesiji.toml"
    config.write_text(content.format(tmp=tmp_path))
    assert main(["account", "list", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert err.count("\n") == 1
    assert main(["account", "list", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "missing.toml" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    config = tmp_path / "mesiji.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    for name in ("A", "B", "C"):
        assert main(["account", "create", "--config", str(config), "--name", name]) == 0
    listing = subprocess.Popen(  # noqa: S603 - our own program, fixed arguments
        [sys.executable, "-m", "mesiji", "account", "list", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert listing.stdout is not None
    assert listing.stderr is not None
    listing.stdout.close()  # as `| head -0` would
    assert listing.wait(timeout=60) == 141
    assert listing.stderr.read() == b""
    listing.stderr.close()


def test_an_account_callback_url_follows_the_api_rule(mesiji_db: Mesiji) -> None:
    mesiji = mesiji_db
    create = ["account", "create", "--name", "Shop"]
    refused(
        mesiji(*create, "--callback-url", "http://169.254.169.254/latest/"),
        "destination not allowed: link-local address",
    )
    refused(mesiji(*create, "--callback-url", "https://u:p@shop.ge/cb"), "user name or password")
    assert mesiji("account", "list").out == ""  # nothing was created
    # An administrator who allows the network may point an account at it.
    mesiji.config.write_text(
        mesiji.config.read_text(encoding="utf-8")
        + '[webhooks]\nallowed_networks = ["10.0.0.0/8"]\n',
        encoding="utf-8",
    )
    ran = mesiji(*create, "--callback-url", "http://10.1.2.3/sms/status")
    assert ran.status == 0
    assert "account 1 created: Shop" in ran.out


def test_account_send_rate(mesiji_db: Mesiji) -> None:
    mesiji = mesiji_db
    assert mesiji("account", "create", "--name", "Shop LLC").status == 0
    ran = mesiji("account", "rate", "1", "20")
    assert (ran.status, ran.out.strip()) == (0, "account 1: send requests a second: 20")
    ran = mesiji("account", "rate", "1", "0")
    assert ran.out.strip() == "account 1: send requests a second: no limit"
    ran = mesiji("account", "rate", "1", "default")
    assert ran.out.strip() == "account 1: send requests a second: the gateway's default"
    refused(mesiji("account", "rate", "7", "5"), "no account 7")
