"""Settings from TOML and the environment; the reference in docs stays in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesiji.errors import ConfigError
from mesiji.settings import Settings, load_settings, settings_reference

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_need_no_file() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.http.port == 8000
    assert len(settings.channels) == 1


def test_toml_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "mesiji.toml"
    path.write_text(
        'data_dir = "/srv/mesiji"\n[http]\nport = 9000\n'
        '[[channels]]\nname = "direct"\nwindow = 50\n'
        '[[channels]]\nname = "backup"\nallow_latin1 = true\n',
        encoding="utf-8",
    )
    settings = load_settings(
        path,
        {
            "MESIJI_HTTP__PORT": "9100",
            "MESIJI_CHANNELS__1__PASSWORD": "s3cret",
            "MESIJI_TEST_SKIP_POSTGRES": "1",  # not a setting: ignored
            "HOME": "/root",
        },
    )
    assert settings.data_dir == Path("/srv/mesiji")
    assert settings.http.port == 9100
    assert [c.name for c in settings.channels] == ["direct", "backup"]
    assert settings.channels[0].window == 50
    assert settings.channels[1].allow_latin1 is True
    assert settings.channels[1].password == "s3cret"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MESIJI_HTTP__PORTT": "1"}, "unknown setting http.portt"),
        ({"MESIJI_HTTP__PORT": "eighty"}, "http.port: 'eighty' is not a valid int"),
        ({"MESIJI_CHANNELS__0__ALLOW_LATIN1": "maybe"}, "is not a valid bool"),
    ],
)
def test_bad_values_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[http\nport = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_configuration_reference_in_docs_is_current() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert settings_reference() in docs, "regenerate docs/configuration.md from settings.py"


def test_a_list_of_values_from_toml_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "mesiji.toml"
    path.write_text('[webhooks]\nallowed_networks = ["10.20.0.0/16", "::1"]\n', encoding="utf-8")
    assert load_settings(path).webhooks.allowed_networks == ("10.20.0.0/16", "::1")
    environ = {"MESIJI_WEBHOOKS__ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128,"}
    assert load_settings(path, environ).webhooks.allowed_networks == ("127.0.0.0/8", "::1/128")
    assert load_settings().webhooks.allowed_networks == ()
    path.write_text("[webhooks]\nallowed_networks = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"webhooks\.allowed_networks: expected a list"):
        load_settings(path)
