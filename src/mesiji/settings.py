"""Settings: frozen dataclasses, read from one TOML file with environment overrides.

Nothing reads the environment at import time: :func:`load_settings` is given the file and the
environment explicitly, and the composition root passes the result down. Every option has a
default and a description in its field's metadata; ``docs/configuration.md`` is generated from
them (``mesiji config docs``) and a test keeps it in sync.

Environment variables override the file: ``MESIJI_HTTP__PORT=9000`` sets ``[http] port``,
``MESIJI_CHANNELS__0__PASSWORD=...`` the password of the first ``[[channels]]`` entry.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesiji.errors import ConfigError

ENV_PREFIX = "MESIJI_"


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    # repr=False: the URL may carry the database password.
    url: str = field(
        default="",
        repr=False,
        metadata=_doc(
            "SQLAlchemy URL. Empty: SQLite in `data_dir/mesiji.db`. For several gateway "
            "processes use PostgreSQL: `postgresql+asyncpg://user@host/db`."
        ),
    )


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = field(default="127.0.0.1", metadata=_doc("Address the HTTP API listens on."))
    port: int = field(default=8000, metadata=_doc("Port of the HTTP API."))
    max_body_bytes: int = field(
        default=1_048_576, metadata=_doc("Larger request bodies are refused with 413.")
    )
    max_pending_requests: int = field(
        default=4096,
        metadata=_doc(
            "Send requests waiting to be committed at most; more are refused with 429 and "
            "Retry-After until the database catches up."
        ),
    )
    telemetry: bool = field(
        default=False,
        metadata=_doc(
            "FastAPI's OpenTelemetry traces and metrics of each request, for an OpenTelemetry "
            "SDK configured in the process. Off: it costs CPU on every request."
        ),
    )
    lookup_cache_seconds: float = field(
        default=2.0,
        metadata=_doc(
            "How long API keys, senders, stop lists and webhook secrets read from the "
            "database are reused. Changes made through another process (the CLI, another "
            "gateway) take effect within this time; 0 reads them on every request."
        ),
    )
    header_timeout: float = field(
        default=10.0,
        metadata=_doc(
            "Seconds a client has to send a whole request head, from connecting or from the "
            "first byte of its request; a connection that takes longer is closed (slowloris)."
        ),
    )


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    name: str = field(default="default", metadata=_doc("Name of the channel (route)."))
    host: str = field(default="127.0.0.1", metadata=_doc("SMSC host."))
    port: int = field(default=2775, metadata=_doc("SMSC port."))
    system_id: str = field(default="mesiji", metadata=_doc("SMPP system_id to bind with."))
    # repr=False: settings may be logged or shown in a traceback.
    password: str = field(default="", repr=False, metadata=_doc("SMPP password."))
    system_type: str = field(default="", metadata=_doc("SMPP system_type, if the SMSC asks."))
    bind: str = field(
        default="transceiver", metadata=_doc("`transceiver`, or `pair` (transmitter + receiver).")
    )
    sessions: int = field(default=1, metadata=_doc("Binds (or pairs) held open at once."))
    window: int = field(default=100, metadata=_doc("Outstanding requests per bind."))
    tps: float = field(default=0.0, metadata=_doc("Submits per second cap; 0 for none."))
    enquire_link_interval: float = field(
        default=30.0, metadata=_doc("Seconds of silence before an enquire_link.")
    )
    response_timeout: float = field(
        default=10.0, metadata=_doc("Seconds to wait for any SMPP response.")
    )
    concat: str = field(
        default="udh8", metadata=_doc("Long messages: `udh8`, `udh16`, `sar` or `payload`.")
    )
    allow_latin1: bool = field(
        default=False, metadata=_doc("Send Latin-1 (data_coding 3) where GSM-7 does not fit.")
    )


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    batch_size: int = field(default=500, metadata=_doc("Parts claimed per dispatcher round."))
    lease_seconds: float = field(
        default=60.0, metadata=_doc("A claimed part returns to the queue after this long.")
    )
    receipt_wait_seconds: float = field(
        default=172_800.0,
        metadata=_doc(
            "A part without a receipt this long after its submit (and after its message's "
            "validity) ends `unknown`, and its client is called back; a receipt that still "
            "comes later corrects it. 0: wait for ever."
        ),
    )


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    timeout: float = field(default=10.0, metadata=_doc("Seconds per callback attempt."))
    max_attempts: int = field(default=10, metadata=_doc("Attempts before a callback fails."))
    backoff_initial: float = field(default=1.0, metadata=_doc("First retry after (seconds)."))
    backoff_max: float = field(default=600.0, metadata=_doc("Longest wait between retries."))
    allowed_networks: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Networks callbacks may reach besides the public internet, e.g. "
            '`["10.20.0.0/16", "127.0.0.1/32"]` (from the environment: comma-separated). '
            "Loopback, private, link-local and other non-global addresses are refused unless "
            "listed here."
        ),
    )


@dataclass(frozen=True, slots=True)
class LimitSettings:
    send_requests_per_second: int = field(
        default=0,
        metadata=_doc(
            "Send requests (either API) one account may make in any second; more are refused "
            "with 429, `too_many_requests` and Retry-After (on /api/: ErrorCode -100). 0: no "
            "limit. An account's own `send_rate` wins. Counted in each gateway process: "
            "behind a balancer, N processes let an account make up to N times as many."
        ),
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Mesiji can be told."""

    data_dir: Path = field(
        default=Path("data"), metadata=_doc("Directory for the SQLite database and logs.")
    )
    log_level: str = field(default="info", metadata=_doc("debug, info, warning or error."))
    log_format: str = field(default="text", metadata=_doc("`text` or `json` (one per line)."))
    default_region: str = field(
        default="GE", metadata=_doc("Region of national numbers (ISO 3166 code).")
    )
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    channels: tuple[ChannelSettings, ...] = field(default=(ChannelSettings(),))
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file at ``path`` (if any), then ``environ`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    top_level = {f.name for f in dataclasses.fields(Settings)}
    for name, value in (environ or {}).items():
        keys = name.removeprefix(ENV_PREFIX).lower().split("__")
        # Other MESIJI_* variables (a test switch, a script's own) are not settings.
        if name.startswith(ENV_PREFIX) and keys[0] in top_level:
            _set_path(data, keys, value)
    settings: Settings = _build(Settings, data, "")
    return settings


def _set_path(data: dict[str, Any], keys: list[str], value: str) -> None:
    node: Any = data
    for key, following in zip(keys, [*keys[1:], None], strict=True):
        if following is None:
            break
        if isinstance(node, list):
            index = int(key) if key.isdigit() else -1
            while len(node) <= index:
                node.append({})
            node = node[index]
        else:
            node = node.setdefault(key, [] if following.isdigit() else {})
    if isinstance(node, dict):
        node[keys[-1]] = value


def _build(cls: type[Any], data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'settings'}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown setting {where}{unknown[0]}")
    values = {name: _coerce(hints[name], value, f"{where}{name}") for name, value in data.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{where}.")  # type: ignore[arg-type]
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        items = value.values() if isinstance(value, Mapping) else value
        if isinstance(items, str) and not dataclasses.is_dataclass(item):
            # A list of plain values from the environment: "a,b,c".
            items = [part.strip() for part in items.split(",") if part.strip()]
        if not isinstance(items, list | tuple | type({}.values())):
            raise ConfigError(f"{where}: expected a list")
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(items))
    if origin is types.UnionType:
        raise ConfigError(f"{where}: unsupported type")  # pragma: no cover
    try:
        if hint is bool:
            return _to_bool(value)
        if hint is Path:
            return Path(value)
        if hint in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        return hint(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {value!r} is not a valid {hint.__name__}") from exc


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def settings_reference() -> str:
    """The Markdown reference of every option, with its default and description."""
    lines = ["| option | default | environment | meaning |", "|---|---|---|---|"]
    for path, f in _walk(Settings, ""):
        default = f.default if f.default is not dataclasses.MISSING else "…"
        if isinstance(default, tuple):
            default = list(default)
        env = ENV_PREFIX + path.replace(".", "__").replace("[0]", "__0").upper()
        lines.append(f"| `{path}` | `{default}` | `{env}` | {f.metadata.get('doc', '')} |")
    return "\n".join(lines) + "\n"


def _walk(cls: type[Any], prefix: str) -> list[tuple[str, dataclasses.Field[Any]]]:
    hints = typing.get_type_hints(cls)
    rows: list[tuple[str, dataclasses.Field[Any]]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            rows.extend(_walk(hint, f"{prefix}{f.name}."))  # type: ignore[arg-type]
        elif typing.get_origin(hint) is tuple and any(
            dataclasses.is_dataclass(a) for a in typing.get_args(hint)
        ):
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
            rows.extend(_walk(item, f"{prefix}{f.name}[0]."))
        else:
            rows.append((f"{prefix}{f.name}", f))
    return rows
