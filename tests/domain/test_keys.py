"""API keys and webhook signatures: shapes, hashes, round trips, tampering, replay."""

from __future__ import annotations

import hashlib

import pytest

from mesiji.domain.keys import (
    SIGNATURE_HEADER,
    NewApiKey,
    generate_api_key,
    generate_webhook_secret,
    hash_api_key,
    looks_like_api_key,
    sign_webhook,
    verify_webhook_signature,
    webhook_signature_header,
)

SECRET = "whsec_test"
BODY = b'{"message_id":"m1","status":"delivered"}'
T0 = 1_700_000_000
# openssl dgst -sha256 -hmac whsec_test over '1700000000.{"message_id":"m1","status":"delivered"}'
KNOWN_SIGNATURE = "943a0afa41f93e2bf4d0ffc3bf665956df8cb7750e08440fa1bb481b66f6cc50"


def test_new_api_key_shape() -> None:
    key = generate_api_key()
    assert key.secret.startswith("mk_")
    assert len(key.secret) == 35
    assert key.prefix == key.secret[:8]
    assert key.key_hash == hash_api_key(key.secret)
    assert looks_like_api_key(key.secret)


def test_api_keys_are_unique() -> None:
    assert len({generate_api_key().secret for _ in range(200)}) == 200


def test_repr_hides_the_secret() -> None:
    key = generate_api_key()
    assert key.secret not in repr(key)
    assert key.key_hash in repr(key)


def test_hash_api_key_is_sha256_hex() -> None:
    key = "mk_" + "A" * 32
    # sha256sum of the same 35 bytes
    expected = "25bb43369542c34a7e61a561c122cc3685fe9618ed60384a665c199bd67f22b2"
    assert hash_api_key(key) == expected == hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mk_" + "A" * 32, True),
        ("mk_" + "aZ09-_" * 5 + "xy", True),
        ("mk_" + "A" * 31, False),
        ("mk_" + "A" * 33, False),
        ("MK_" + "A" * 32, False),
        ("mk_" + "A" * 31 + "=", False),
        ("mk_" + "A" * 31 + "\u0410", False),  # Cyrillic A
        (" mk_" + "A" * 32, False),
        ("mk_" + "A" * 32 + "\n", False),
        ("", False),
        (None, False),
        (b"mk_" + b"A" * 32, False),
        (NewApiKey(secret="mk_" + "A" * 32, prefix="mk_AAAAA", key_hash=""), False),
    ],
)
def test_looks_like_api_key(value: object, expected: bool) -> None:
    assert looks_like_api_key(value) is expected


def test_webhook_secret_shape() -> None:
    secret = generate_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(secret) == 6 + 43
    assert secret != generate_webhook_secret()


def test_signature_known_vector() -> None:
    assert sign_webhook(SECRET, BODY, T0) == KNOWN_SIGNATURE
    assert webhook_signature_header(SECRET, BODY, T0) == f"t={T0},v1={KNOWN_SIGNATURE}"
    assert SIGNATURE_HEADER == "Mesiji-Signature"


def test_round_trip() -> None:
    secret = generate_webhook_secret()
    header = webhook_signature_header(secret, BODY, T0)
    assert verify_webhook_signature(secret, BODY, header, now=T0)
    assert verify_webhook_signature(secret, BODY, header, now=T0 + 300)
    assert verify_webhook_signature(secret, BODY, header, now=T0 - 300)


def test_tampered_body_fails() -> None:
    header = webhook_signature_header(SECRET, BODY, T0)
    assert not verify_webhook_signature(SECRET, BODY.replace(b"m1", b"m2"), header, now=T0)
    assert not verify_webhook_signature(SECRET, BODY + b" ", header, now=T0)


def test_wrong_secret_fails() -> None:
    header = webhook_signature_header(SECRET, BODY, T0)
    assert not verify_webhook_signature("whsec_other", BODY, header, now=T0)


def test_replayed_with_a_new_timestamp_fails() -> None:
    forged = f"t={T0 + 3600},v1={KNOWN_SIGNATURE}"
    assert not verify_webhook_signature(SECRET, BODY, forged, now=T0 + 3600)


@pytest.mark.parametrize("now", [T0 + 301, T0 - 301, T0 + 86_400, 0])
def test_stale_or_future_timestamp_fails(now: int) -> None:
    header = webhook_signature_header(SECRET, BODY, T0)
    assert not verify_webhook_signature(SECRET, BODY, header, now=now)


def test_tolerance_is_configurable() -> None:
    header = webhook_signature_header(SECRET, BODY, T0)
    assert verify_webhook_signature(SECRET, BODY, header, now=T0 + 3000, tolerance=3600)
    assert not verify_webhook_signature(SECRET, BODY, header, now=T0 + 10, tolerance=5)


def test_rotation_any_v1_may_match() -> None:
    old = sign_webhook("whsec_old", BODY, T0)
    header = f"t={T0},v1={old},v1={KNOWN_SIGNATURE}"
    assert verify_webhook_signature(SECRET, BODY, header, now=T0)
    assert verify_webhook_signature("whsec_old", BODY, header, now=T0)


def test_spacing_and_unknown_entries_are_tolerated() -> None:
    header = f" t={T0} , v0=abc, v1={KNOWN_SIGNATURE} "
    assert verify_webhook_signature(SECRET, BODY, header, now=T0)


@pytest.mark.parametrize(
    "header",
    [
        "",
        f"v1={KNOWN_SIGNATURE}",
        f"t={T0}",
        f"t={T0},v1=",
        f"t={T0},v1={KNOWN_SIGNATURE.upper()}",
        f"t={T0},v1={KNOWN_SIGNATURE[:-1]}",
        f"t=abc,v1={KNOWN_SIGNATURE}",
        f"t=-{T0},v1={KNOWN_SIGNATURE}",
        f"t={T0}.5,v1={KNOWN_SIGNATURE}",
        "t=\u0661\u0667" + "\u0660" * 8 + f",v1={KNOWN_SIGNATURE}",  # Arabic-Indic 1700000000
        f"t={'9' * 40},v1={KNOWN_SIGNATURE}",
        f"t={T0},v1=ü{KNOWN_SIGNATURE[1:]}",  # non-ASCII: compare_digest must not raise
        f"t={T0},v1={KNOWN_SIGNATURE}," + "x" * 2000,
        "garbage",
        ",,,",
    ],
)
def test_malformed_headers_fail_without_raising(header: str) -> None:
    assert not verify_webhook_signature(SECRET, BODY, header, now=T0)
