"""API keys and webhook signatures.

An API key is ``mk_`` and 32 URL-safe characters from :mod:`secrets` (192 random bits). The
client sees it once, at creation; the gateway keeps only its SHA-256 (:func:`hash_api_key`)
and its first 8 characters (``prefix``) to show in lists ("mk_Ab3xY…").

Webhooks (delivery receipts pushed to clients) are signed with a per-client secret. Every
request carries the header::

    Mesiji-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

where the HMAC is keyed with the secret's UTF-8 bytes and runs over
``f"{t}.".encode() + body``: the timestamp is signed with the body, so a captured request
cannot be replayed later with a fresh ``t``. The receiver recomputes the HMAC, compares in
constant time and refuses a ``t`` too far from its own clock (:func:`verify_webhook_signature`).
During a secret rotation the header may carry several ``v1=`` entries; one match suffices.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

__all__ = [
    "API_KEY_PREFIX",
    "SIGNATURE_HEADER",
    "WEBHOOK_SECRET_PREFIX",
    "NewApiKey",
    "generate_api_key",
    "generate_webhook_secret",
    "hash_api_key",
    "looks_like_api_key",
    "sign_webhook",
    "verify_webhook_signature",
    "webhook_signature_header",
]

API_KEY_PREFIX = "mk_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker, not a secret
#: The HTTP header carrying a webhook's signature.
SIGNATURE_HEADER = "Mesiji-Signature"

_KEY_BYTES = 24  # base64 of 24 bytes is exactly 32 characters, without padding
_DISPLAY_PREFIX_LENGTH = 8
_API_KEY = re.compile(r"mk_[A-Za-z0-9_-]{32}", re.ASCII)
_WEBHOOK_SECRET_BYTES = 32
# A longer header is not one the gateway sent; refusing it early bounds the work.
_MAX_HEADER_LENGTH = 1024
_MAX_TIMESTAMP_DIGITS = 12


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly made API key: ``secret`` to show once, ``prefix`` and ``key_hash`` to store."""

    secret: str = field(repr=False)
    prefix: str
    key_hash: str


def generate_api_key() -> NewApiKey:
    """Make a new random API key."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
    return NewApiKey(
        secret=secret, prefix=secret[:_DISPLAY_PREFIX_LENGTH], key_hash=hash_api_key(secret)
    )


def hash_api_key(key: str) -> str:
    """The SHA-256 of an API key, as lower-case hex: what the gateway stores and looks up.

    Passwords need a slow, salted hash (argon2, bcrypt) because people choose them from a
    small space that an attacker with a stolen table can search. An API key is 192 random
    bits: no speed of hashing makes that space searchable, and no precomputed table covers
    it, so slowness and salt buy nothing. A fast, unsalted hash also keeps the lookup simple
    and cheap on every request: the gateway hashes the presented key and finds the row by
    that hash in an index, with nothing secret-dependent to compare in Python.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def looks_like_api_key(value: object) -> bool:
    """Whether ``value`` has the shape of an API key (``mk_`` and 32 URL-safe characters).

    A cheap check before a database look-up, and a way to spot keys pasted where they do not
    belong (logs, message texts); it says nothing about whether the key exists.
    """
    return isinstance(value, str) and _API_KEY.fullmatch(value) is not None


def generate_webhook_secret() -> str:
    """Make a new webhook signing secret: ``whsec_`` and 43 URL-safe characters (256 bits)."""
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(_WEBHOOK_SECRET_BYTES)


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    message = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def webhook_signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The value of the :data:`SIGNATURE_HEADER` header: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},v1={sign_webhook(secret, body, timestamp)}"


def verify_webhook_signature(
    secret: str, body: bytes, header: str, now: float, tolerance: float = 300
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` under ``secret``, made near ``now``.

    ``header`` is the value of :data:`SIGNATURE_HEADER`; ``now`` the receiver's Unix time in
    seconds; ``tolerance`` how many seconds ``t`` may differ from it, either way, to allow
    for clock skew and delivery delay while bounding replays. Signatures are compared with
    :func:`hmac.compare_digest`. A malformed header gives False, never an exception.
    """
    timestamp, candidates = _parse_header(header)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = sign_webhook(secret, body, timestamp).encode("ascii")
    # Every candidate is compared, so the time taken does not depend on which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


def _parse_header(header: str) -> tuple[int | None, list[bytes]]:
    """The first ``t`` and every ``v1`` of a signature header; unknown entries are skipped."""
    if len(header) > _MAX_HEADER_LENGTH:
        return None, []
    timestamp: int | None = None
    candidates: list[bytes] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        value = value.strip()
        if key == "t" and timestamp is None:
            if not (value.isascii() and value.isdigit()) or len(value) > _MAX_TIMESTAMP_DIGITS:
                return None, []
            timestamp = int(value)
        elif key == "v1":
            # Bytes, because compare_digest refuses str with non-ASCII characters.
            candidates.append(value.encode("utf-8"))
    return timestamp, candidates
