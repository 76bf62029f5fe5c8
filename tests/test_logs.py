"""Structured logs: one JSON object per line, extra fields kept."""

from __future__ import annotations

import json
import logging

from mesiji.logs import JsonFormatter


def test_json_lines_carry_message_level_and_extra_fields() -> None:
    record = logging.LogRecord("mesiji.test", logging.WARNING, "f.py", 1, "bound %s", ("x",), None)
    record.channel = "magti"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["logger"] == "mesiji.test"
    assert entry["message"] == "bound x"
    assert entry["channel"] == "magti"
    assert entry["time"].endswith("+00:00")
    assert "\n" not in line
