"""One tenant cannot hurt another: poison requests mixed with a victim's, on both engines.

Concurrent sends of all accounts share group commits (AcceptBatcher). An attacker sends every
kind of request known to have reached the database and failed there (NUL, lone surrogates,
calendar edges, huge validity, naive datetimes, over-long fields, empty or unreadable texts)
while a victim sends ordinary ones, through the real ASGI application on SQLite and
PostgreSQL. Every victim request must be committed; every poison request refused with a 4xx
and a code (the envelope with a non-zero ErrorCode under /api/), writing nothing.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mesiji.domain.keys import generate_api_key
from mesiji.services import accept
from mesiji.services.accept import AcceptService
from mesiji.services.group_commit import AcceptBatcher
from mesiji.services.lookups import AccountLookups
from mesiji.settings import ChannelSettings
from mesiji.storage.message_ports import AcceptBatch, AcceptOutcome
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.records import NewAccount, SenderStatus
from mesiji.storage.sql import SqlStore
from mesiji.testing import VirtualClock
from mesiji.web import inputs as web_inputs
from mesiji.web import v1
from mesiji.web.app import create_app
from mesiji.web.context import WebContext
from tests.storage.conftest import Database, database  # noqa: F401 -- the fixture, both engines

CREDITS = 10_000
VICTIM_REQUESTS = 150


@dataclass
class Tenant:
    id: int
    key: str
    key_hash: str


class RecordingStore(SqlMessageStore):
    """Records the accounts of every group commit, to show that groups mix tenants."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.groups: list[set[int]] = []

    async def accept_many(
        self, batches: Sequence[AcceptBatch], now: datetime
    ) -> list[AcceptOutcome]:
        self.groups.append({b.account_id for b in batches})
        return await super().accept_many(batches, now)


@dataclass
class Gateway:
    engine: str
    client: httpx.AsyncClient
    store: SqlStore
    batcher: AcceptBatcher
    messages: RecordingStore
    victim: Tenant
    attacker: Tenant

    async def count(self, table: str, account: Tenant) -> int:
        query = sa.text(f"SELECT count(*) FROM {table} WHERE account_id = :a")
        async with self.store.engine.connect() as conn:
            return int((await conn.execute(query, {"a": account.id})).scalar_one())

    async def balance(self, account: Tenant) -> int:
        found = await self.store.get_account(account.id)
        assert found is not None
        return found.balance


async def _tenant(store: SqlStore, name: str) -> Tenant:
    account = await store.create_account(NewAccount(name=name))
    await store.add_credits(account.id, CREDITS, "test")
    await store.set_sender(account.id, "Shop", SenderStatus.ACTIVE)
    key = generate_api_key()
    await store.create_api_key(account.id, key.key_hash, key.prefix, "test")
    return Tenant(account.id, key.secret, key.key_hash)


@pytest.fixture
async def gateway(database: Database) -> AsyncIterator[Gateway]:  # noqa: F811
    clock = VirtualClock()
    store = await database.open_store(clock)
    try:
        messages = RecordingStore(store.engine)
        victim = await _tenant(store, "Victim LLC")
        attacker = await _tenant(store, "Attacker LLC")
        lookups = AccountLookups(store, clock, ttl=60.0)
        for tenant in (victim, attacker):
            # Cached, so that both tenants' requests reach the group commit at the same pace.
            await lookups.authenticate(tenant.key_hash)
            await lookups.sender(tenant.id, "Shop")
            await lookups.stop_listed(tenant.id, ["995599000001"])
        # As the gateway composes it (bootstrap): every account's requests share group commits.
        batcher = AcceptBatcher(messages, clock, max_delay=0.0)
        accept = AcceptService(lookups, messages, ChannelSettings(), clock, batcher=batcher)
        app = create_app(WebContext(store, lookups, messages, accept, clock))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mesiji.test") as client:
            yield Gateway(database.kind, client, store, batcher, messages, victim, attacker)
        await batcher.close()
    finally:
        await store.close()


#: /v1 JSON fields of poison sends, each added to an otherwise valid request.
V1_POISON: list[dict[str, Any]] = [
    {"text": "hello\x00world"},
    {"text": "\x00"},
    {"text": "\x00\x00\x00"},
    {"text": ""},
    {"text": "   \n\t"},
    {"text": "\ufffd\ufffd"},
    {"text": "\x01\x02\x1b\u200b"},
    {"text": "a\ud800b"},
    {"text": "\udfff"},
    {"messages": [{"to": "599000001", "text": "ok"}, {"to": "599000002", "text": "x\x00"}]},
    {"messages": [{"to": "599000001", "text": "ok"}, {"to": "599000002", "text": "\ud83d"}]},
    {"reference": "ref\x00"},
    {"reference": "\ud800"},
    {"reference": "r" * 101},
    {"callback_url": "https://example.com/cb\x00"},
    {"callback_url": "https://example.com/\udc80"},
    {"callback_url": "https://example.com/" + "a" * 2048},
    {"sender": "Sh\x00p"},
    {"sender": "\ud800"},
    {"to": "599\x00000001"},
    {"to": ["599000001", "\ud800"], "text": "\x00"},
    {"send_at": "9999-12-31T23:59:59-23:59"},
    {"send_at": "9999-12-31T23:59:59-05:00"},
    {"send_at": "9999-12-31T23:59:59+14:00"},
    {"send_at": "9999-12-31T00:00:00Z"},
    {"send_at": "0001-01-01T00:00:00+14:00"},
    {"send_at": "0001-01-01T00:00:00-14:00"},
    {"send_at": "1969-12-31T23:59:59Z"},
    {"send_at": "2030-01-01T00:00:00"},
    {"send_at": "2030-02-30T00:00:00Z"},
    {"send_at": "9999-12-25T00:00:00Z", "validity": 604800},
    {"validity": 10**20},
    {"validity": -(10**20)},
    {"validity": 2**63},
    {"validity": 604801},
    {"validity": 0},
    {"send_at": "8999-12-31T23:00:00Z", "validity": 10**15},
    {"urgent": "\x00"},
    {"extra\x00": 1},
]

#: smsoffice.ge form bodies (raw bytes: invalid UTF-8 too) of poison sends; key, destination and
#: sender are added.
LEGACY_POISON: list[bytes] = [
    b"content=hello%00world",
    b"content=%00",
    b"content=%00%00%00",
    b"content=",
    b"content=%FF%FE%FD",
    b"content=%ED%A0%80",
    b"content=%C0%80%F5%FF%80",
    b"content=%01%02%E2%80%8B",
    b"content=ok&reference=%00",
    b"content=ok&reference=" + b"r" * 101,
    b"content=ok&scheduledAt=253402300799",
    b"content=ok&scheduledAt=-62135596800",
    b"content=ok&scheduledAt=99999999999999999999",
    b"content=ok&scheduledAt=-1",
    b"content=ok&scheduledAt=1e3",
]


def _v1_body(n: int, poison: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"to": f"5990{n:05d}", "sender": "Shop", "text": f"order {n} ready"}
    if poison is not None:
        if "messages" in poison:
            del body["to"], body["text"]
        body.update(poison)
    return body


async def _victim_send(gateway: Gateway, n: int) -> None:
    """One ordinary send of one message, alternating between the two APIs."""
    victim = gateway.victim
    if n % 3 == 2:
        form = {"key": victim.key, "destination": f"5990{n:05d}", "sender": "Shop"}
        form["content"] = f"შეკვეთა {n} მზადაა"  # Georgian: one UCS-2 part
        answer = await gateway.client.post("/api/v2/send", data=form)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"Success": True, "Message": "Sent", "Output": None, "ErrorCode": 0}
        return
    headers = {"Authorization": f"Bearer {victim.key}"}
    if n % 3 == 1:
        headers["Idempotency-Key"] = f"victim-{n}"
    body = _v1_body(n)
    if n % 5 == 0:
        body.update(send_at="2099-12-31T23:59:59-05:00", validity=3600, reference=f"v-{n}")
    answer = await gateway.client.post("/v1/messages", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    assert [m["to"] for m in answer.json()["messages"]] == [f"9955990{n:05d}"]


async def _attack_v1(gateway: Gateway, poison: dict[str, Any], code: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {gateway.attacker.key}"}
    headers["Content-Type"] = "application/json"
    # json.dumps escapes lone surrogates as \udXXX, as a client in any language may send them.
    body = json.dumps(_v1_body(1, poison))
    answer = await gateway.client.post("/v1/messages", content=body, headers=headers)
    assert 400 <= answer.status_code < 500, (poison, answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] == code if code else error["code"], (poison, answer.text)
    assert error["message"], (poison, answer.text)


async def _attack_legacy(gateway: Gateway, body: bytes) -> None:
    base = f"key={gateway.attacker.key}&destination=599000001&sender=Shop&".encode()
    answer = await gateway.client.post(
        "/api/v2/send",
        content=base + body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200, (body, answer.text)
    envelope = answer.json()
    assert envelope["Success"] is False, (body, envelope)
    assert envelope["ErrorCode"] != 0, (body, envelope)


async def _attack_too_long_key(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.attacker.key}", "Idempotency-Key": "k" * 201}
    answer = await gateway.client.post("/v1/messages", json=_v1_body(1), headers=headers)
    assert answer.status_code == 400, answer.text


#: A valid request the attacker's balance does not cover (700 numbers x 16 parts): refused by
#: the group commit itself, so the attacker's requests do reach the groups the victim's are in.
OVER_BALANCE = {"to": [f"5990{n:05d}" for n in range(700)], "text": "x" * (16 * 153)}


async def _storm(gateway: Gateway, attacks: list[Callable[[], Awaitable[None]]]) -> None:
    """The victim's sends and ``attacks`` (each twice), interleaved and all at once; then the
    victim's messages are all stored and the attacker has written nothing."""
    work: list[Awaitable[None]] = []
    victim = []
    for n in range(VICTIM_REQUESTS):
        victim.append(len(work))
        work.append(_victim_send(gateway, n))
        if n < 2 * len(attacks):
            work.append(attacks[n % len(attacks)]())
    outcomes = await asyncio.gather(*work, return_exceptions=True)
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
    victims_failed = len(set(failed).intersection(victim))
    assert failed == [], (
        f"victim: {victims_failed} of {len(victim)} failed; attacker: "
        f"{len(failed) - victims_failed} of {len(work) - len(victim)} not refused with a 4xx; "
        f"first: {outcomes[failed[0]]!r}"
    )

    assert await gateway.count("messages", gateway.victim) == VICTIM_REQUESTS
    assert await gateway.balance(gateway.victim) == CREDITS - VICTIM_REQUESTS
    # Groups were shared, by both tenants.
    assert gateway.batcher.groups < gateway.batcher.requests
    both = {gateway.victim.id, gateway.attacker.id}
    assert sum(1 for accounts in gateway.messages.groups if accounts == both) > 0
    for table, rows in (("messages", 0), ("balance_ledger", 1), ("idempotency_keys", 0)):
        assert await gateway.count(table, gateway.attacker) == rows, table  # 1: the credits
    assert await gateway.balance(gateway.attacker) == CREDITS


async def test_a_tenant_sending_poison_cannot_fail_another_tenants_sends(
    gateway: Gateway,
) -> None:
    attacks: list[Callable[[], Awaitable[None]]] = [
        functools.partial(_attack_v1, gateway, p) for p in V1_POISON
    ]
    attacks += [functools.partial(_attack_legacy, gateway, b) for b in LEGACY_POISON]
    attacks.append(functools.partial(_attack_too_long_key, gateway))
    attacks.append(
        functools.partial(_attack_v1, gateway, OVER_BALANCE, code="insufficient_balance")
    )
    await _storm(gateway, attacks)


async def test_poison_the_checks_miss_fails_alone_in_the_group_commit(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the checks at the accept boundary, the values reach the database, which refuses
    # them inside a group commit: the group is committed again in halves, the poison alone
    # fails (400 unstorable) and the victim's requests are all committed.
    monkeypatch.setattr(accept, "check_text", lambda value, **_: value)
    monkeypatch.setattr(accept, "check_datetime", lambda value, **_: value)
    # ... and without the HTTP layer's own refusals of NULs and off-calendar times.
    monkeypatch.setattr(web_inputs, "_first_unstorable", lambda data: None)
    monkeypatch.setattr(v1, "_send_at", lambda value: value)
    poison: list[dict[str, Any]] = [
        # Past year 9999 once in UTC: SQLite (stored as UTC text) cannot convert it.
        {"send_at": "9999-12-31T23:59:59-05:00"},
        {"send_at": "9999-12-31T20:00:00-23:59", "reference": "edge"},
    ]
    if gateway.engine == "postgresql":  # PostgreSQL refuses NUL in text; SQLite stores it
        poison += [
            {"text": "hello\x00world"},
            {"reference": "r\x00"},
        ]
    attacks: list[Callable[[], Awaitable[None]]] = [
        functools.partial(_attack_v1, gateway, p, code="unstorable") for p in poison
    ]
    await _storm(gateway, attacks)


#: Poison sends and the code each is refused with, on /v1 and on the smsoffice.ge API.
CODES: list[tuple[dict[str, Any], str]] = [
    # A NUL anywhere in a JSON body is refused where the body is read (mesiji.web.inputs).
    ({"text": "hello\x00world"}, "invalid_request"),
    ({"text": "\x00\x00"}, "invalid_request"),
    ({"text": "\ufffd\x01\u200b "}, "no_content"),
    ({"text": ""}, "no_content"),
    ({"reference": "ref\x00"}, "invalid_request"),
    ({"callback_url": "https://example.com/cb\x00"}, "invalid_request"),
    ({"send_at": "9999-12-31T23:59:59-05:00"}, "invalid_send_at"),
    ({"send_at": "9999-12-31T23:59:59+14:00"}, "invalid_send_at"),
    ({"send_at": "0001-01-01T00:00:00+14:00"}, "invalid_send_at"),
    ({"send_at": "2030-01-01T00:00:00"}, "invalid_send_at"),
    ({"validity": 10**20}, "invalid_validity"),
    ({"validity": -(10**20)}, "invalid_validity"),
    ({"text": "\ud800"}, "invalid_request"),  # lone surrogates: refused by the JSON model
]
LEGACY_CODES: list[tuple[bytes, int]] = [
    (b"content=%00", 60),
    (b"content=%00%00%FF%FE", 60),
    (b"content=%E2%80%8B%20", 60),
    (b"content=hello%00world", -100),
    (b"content=ok&reference=%00", -100),
    (b"content=ok&scheduledAt=253402300799", -100),
]


async def test_each_poison_is_refused_with_its_code_and_never_charged(gateway: Gateway) -> None:
    for poison, code in CODES:
        await _attack_v1(gateway, poison, code=code)
    for body, number in LEGACY_CODES:
        base = f"key={gateway.attacker.key}&destination=599000001&sender=Shop&".encode()
        answer = await gateway.client.post(
            "/api/v2/send",
            content=base + body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (answer.json()["Success"], answer.json()["ErrorCode"]) == (False, number), body
        legacy = await gateway.client.post(
            "/api/send.aspx",
            content=base + body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert legacy.text == str(number), body
    assert await gateway.count("messages", gateway.attacker) == 0
    assert await gateway.balance(gateway.attacker) == CREDITS
