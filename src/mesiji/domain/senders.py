"""Sender names (originators): which ones an SMS can carry at all.

One rule for every way a sender reaches the gateway (the APIs refuse a send with it, the
command line refuses to register it), so a sender that can be registered can also be used.
"""

from __future__ import annotations

import re

__all__ = ["SENDER_RULE", "valid_sender_name"]

#: An alphanumeric sender ID: at most 11 characters (3GPP TS 23.040 §9.1.2.5, 7-bit
#: alphanumeric address of 11 characters), or a number of at most 15 digits (E.164).
_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 .\-_&]{1,11}|\+?[0-9]{1,15}", re.ASCII)

#: The rule in words, for error messages.
SENDER_RULE = "up to 11 Latin letters, digits, space and .-_& (with a letter), or a number"


def valid_sender_name(name: str) -> bool:
    """Whether ``name`` can be an SMS originator (see :data:`SENDER_RULE`)."""
    return _SENDER.fullmatch(name) is not None
