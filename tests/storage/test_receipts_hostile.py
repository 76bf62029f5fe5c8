"""Receipts carrying NUL bytes, mixed with genuine ones, through the receipt handler.

Some SMSCs copy the C string's NUL terminator into short_message (an octet string, SMPP 3.4
§5.2.21), or NULs inside it; PostgreSQL refuses U+0000 in text. Every receipt must be stored
and matched, and none answered with an error (which would make the SMSC resend it forever).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from mesiji.services import receipts as receipts_service
from mesiji.services.receipts import ReceiptHandler
from mesiji.smpp.constants import EsmClass
from mesiji.smpp.pdus import DeliverSm
from mesiji.storage import SqlStore
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.schema import receipts
from mesiji.testing import VirtualClock
from tests.storage.conftest import Database
from tests.storage.message_fixtures import funded_account, in_transit, part_statuses

_DATES = "submit date:2612050900 done date:2612050901"

#: Receipts for parts in transit under ids 100..107 (four with NULs), and two for ids no part
#: has yet (they wait in ``receipts``), one with NULs.
BODIES: list[bytes] = [
    f"id:100 sub:001 dlvrd:001 {_DATES} stat:DELIVRD err:000 text:hello".encode(),
    f"id:101 sub:001 dlvrd:001 {_DATES} stat:DELIVRD err:000 text:hello\x00".encode(),
    f"id:102 sub:001 dlvrd:000 {_DATES} stat:UNDELIV err:001 text:\x00\x00\x00".encode(),
    f"id:103 sub:001 dlvrd:001 {_DATES} stat:DELIVRD err:000 text:a\x00b".encode(),
    f"id:104 sub:001 dlvrd:001 {_DATES} stat:DELIVRD err:0\x000 text:x".encode(),
    f"id:105 sub:001 dlvrd:001 {_DATES} stat:DELIVRD err:000 text:ok".encode(),
    f"id:106 sub:001 dlvrd:000 {_DATES} stat:EXPIRED err:000 text:ok".encode(),
    f"id:107 sub:001 dlvrd:001 {_DATES} stat:DELIVRD err:000 text:gamarjoba".encode(),
    f"id:998 sub:001 dlvrd:000 {_DATES} stat:UNDELIV err:000 text:early".encode(),
    f"id:999\x00 sub:001 dlvrd:000 {_DATES} stat:UNDELIV err:00\x001 text:x\x00y\x00".encode(),
]
EXPECTED = ["delivered"] * 2 + ["undelivered"] + ["delivered"] * 3 + ["expired", "delivered"]


@pytest.mark.parametrize("sanitised", [True, False], ids=["sanitised", "refused-alone"])
async def test_receipts_with_nul_bytes_are_stored_and_matched_with_the_genuine_ones(
    database: Database,
    store: SqlStore,
    message_store: SqlMessageStore,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    sanitised: bool,
) -> None:
    if not sanitised:
        # Without the sanitising, PostgreSQL refuses the NULs inside the group commit: each bad
        # receipt is then left alone by the halving and stored reduced to ASCII.
        monkeypatch.setattr(receipts_service, "storable_receipt", lambda receipt: receipt)
    account = await funded_account(store)
    now = clock.now()
    messages = [
        (await in_transit(message_store, account, now, [str(100 + n)]))[0] for n in range(8)
    ]
    handler = ReceiptHandler(message_store, clock=clock)
    pdus = [
        DeliverSm(esm_class=int(EsmClass.smsc_delivery_receipt), short_message=body)
        for body in BODIES
    ]
    # Twice over, all at once, as an SMSC resending what it has not heard back about.
    answers = await asyncio.gather(
        *(handler.handle("magti", pdu) for pdu in pdus + pdus), return_exceptions=True
    )
    await handler.close()

    assert answers == [None] * len(answers)  # every deliver_sm is answered OK
    assert handler.unstorable == 0
    assert [(await part_statuses(store, m))[0] for m in messages] == EXPECTED
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(receipts.c.smsc_message_id, receipts.c.err, receipts.c.raw)
                .where(receipts.c.matched_part_id.is_(None))
                .order_by(receipts.c.smsc_message_id)
            )
        ).all()
    assert [r.smsc_message_id for r in rows] == ["998", "999"]
    waiting = rows[1]
    assert waiting.raw.startswith("id:999")
    if sanitised or database.kind == "postgresql":  # else SQLite stores the NULs as they came
        assert "\x00" not in waiting.raw
        assert "\x00" not in (waiting.err or "")
