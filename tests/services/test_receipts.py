"""The receipt handler: parsing, group commit, acknowledging only after the commit."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import pytest

from mesiji.domain.statuses import PartStatus
from mesiji.services.receipts import (
    ReceiptHandler,
    bare_receipt,
    incoming_receipt,
    storable_receipt,
)
from mesiji.smpp import tlv
from mesiji.smpp.constants import EsmClass, MessageState
from mesiji.smpp.pdus import DataSm, DeliverSm
from mesiji.smpp.receipts import is_receipt
from mesiji.smpp.tlv import Tlv
from mesiji.storage.errors import StorageError, StorageUnavailable
from mesiji.storage.message_ports import IncomingReceipt, StatusChange
from mesiji.testing import VirtualClock

from .conftest import Pipeline, PipelineFactory
from .fakes import FakeMessageStore

P = PartStatus


def receipt_pdu(
    message_id: str, stat: str = "DELIVRD", err: str = "000", **fields: object
) -> DeliverSm:
    body = (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201"
        f" stat:{stat} err:{err} text:hello"
    )
    values: dict[str, object] = {
        "esm_class": int(EsmClass.smsc_delivery_receipt),
        "short_message": body.encode(),
    }
    values.update(fields)
    return DeliverSm(**values)  # type: ignore[arg-type]


def test_receipt_is_read_from_text_and_tlvs() -> None:
    pdu = receipt_pdu(
        "0A3F",
        stat="UNDELIV",
        err="001",
        tlvs=(
            Tlv.of(tlv.receipted_message_id, "0a3f"),
            Tlv.of(tlv.message_state, int(MessageState.UNDELIVERABLE)),
        ),
    )
    receipt = incoming_receipt("sim", pdu)
    assert receipt.channel == "sim"
    assert receipt.message_id_keys == ("A3F", "2623")
    assert receipt.status is P.UNDELIVERED
    assert receipt.error_code == "001"
    assert receipt.raw.startswith("id:0A3F ")


def test_receipt_in_message_payload_of_a_data_sm() -> None:
    body = b"id:77 sub:001 dlvrd:000 submit date:2601011200 done date:2601011201 stat:EXPIRED"
    pdu = DataSm(
        esm_class=int(EsmClass.smsc_delivery_receipt),
        tlvs=(
            Tlv.of(tlv.message_payload, body),
            Tlv.of(tlv.network_error_code, bytes((3, 0, 27))),
        ),
    )
    assert is_receipt(pdu)
    receipt = incoming_receipt("sim", pdu)
    assert receipt.message_id_keys[0] == "77"
    assert receipt.status is P.EXPIRED
    assert receipt.error_code == "03001B"  # no err: field, so the network error code


def test_intermediate_states_change_no_status() -> None:
    receipt = incoming_receipt("sim", receipt_pdu("1", stat="ENROUTE"))
    assert receipt.status is None


def test_mobile_originated_message_is_not_a_receipt() -> None:
    assert not is_receipt(DeliverSm(short_message=b"hi"))
    assert not is_receipt(DeliverSm(esm_class=int(EsmClass.udhi), short_message=b"hi"))


class SlowStore(FakeMessageStore):
    """Holds each apply_receipts call until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def apply_receipts(
        self, receipts: Sequence[IncomingReceipt], now: datetime
    ) -> list[StatusChange]:
        self.entered.set()
        await self.gate.wait()
        return await super().apply_receipts(receipts, now)


async def test_concurrent_receipts_share_a_commit_and_wait_for_it() -> None:
    store = SlowStore()
    clock = VirtualClock()
    handler = ReceiptHandler(store, clock=clock)
    first = asyncio.create_task(handler.handle("sim", receipt_pdu("1")))
    await asyncio.wait_for(store.entered.wait(), 5)
    # These arrive while the first commit runs: they wait for the next one, together.
    rest = [asyncio.create_task(handler.handle("sim", receipt_pdu(str(n)))) for n in range(2, 42)]
    await clock.advance(0)
    assert not first.done()  # deliver_sm_resp waits for the commit
    assert not any(task.done() for task in rest)
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    assert store.sizes["apply_receipts"] == [1, 40]
    assert (handler.commits, handler.stored) == (2, 41)
    await handler.close()


async def test_receipts_of_one_loop_pass_share_a_commit() -> None:
    store = FakeMessageStore()
    handler = ReceiptHandler(store, clock=VirtualClock(), max_batch=25)
    await asyncio.gather(*(handler.handle("sim", receipt_pdu(str(n))) for n in range(60)))
    assert store.sizes["apply_receipts"] == [25, 25, 10]


async def test_unreadable_receipt_is_acknowledged_not_stored() -> None:
    store = FakeMessageStore()
    handler = ReceiptHandler(store, clock=VirtualClock())
    garbage = DeliverSm(esm_class=int(EsmClass.smsc_delivery_receipt), short_message=b"stat:OK")
    await handler.handle("sim", garbage)  # returns: the SMSC hears OK
    assert handler.unreadable == 1
    assert store.calls["apply_receipts"] == 0


async def test_storage_failure_reaches_every_caller_of_that_commit() -> None:
    store = FakeMessageStore()
    store.fail["apply_receipts"] = StorageUnavailable("database is locked")
    handler = ReceiptHandler(store, clock=VirtualClock())
    results = await asyncio.gather(
        *(handler.handle("sim", receipt_pdu(str(n))) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, StorageUnavailable) for r in results)
    await handler.handle("sim", receipt_pdu("4"))  # the next commit works again
    assert handler.stored == 1


class PickyStore(FakeMessageStore):
    """Refuses (StorageError, as PostgreSQL refuses a value) every group holding a receipt
    whose raw text has a character in ``refused``; keeps the receipts it took, in order."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused
        self.taken: list[IncomingReceipt] = []

    async def apply_receipts(
        self, receipts: Sequence[IncomingReceipt], now: datetime
    ) -> list[StatusChange]:
        if any(c in r.raw for r in receipts for c in self.refused):
            await self._enter("apply_receipts", len(receipts))
            raise StorageError("character with byte sequence 0xc3 0xa9 has no equivalent")
        self.taken.extend(receipts)
        return await super().apply_receipts(receipts, now)


async def test_a_receipt_refused_in_a_group_fails_alone_and_the_others_are_stored() -> None:
    store = PickyStore(refused="é")
    handler = ReceiptHandler(store, clock=VirtualClock())
    pdus = [receipt_pdu(str(n)) for n in range(10)]
    pdus[6] = DeliverSm(
        esm_class=int(EsmClass.smsc_delivery_receipt),
        short_message=b"id:6 sub:001 dlvrd:001 stat:DELIVRD err:000 text:caf\xe9",
    )
    results = await asyncio.gather(*(handler.handle("sim", p) for p in pdus))
    assert results == [None] * 10  # every deliver_sm answered OK
    assert [r.message_id_keys[0] for r in store.taken] == [*"012345789", "6"]
    # The refused one was stored once more, reduced to ASCII.
    assert store.taken[-1].raw.endswith("text:caf?")
    assert (handler.stored, handler.unstorable) == (10, 0)


async def test_a_receipt_refused_even_in_ascii_is_acknowledged_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = PickyStore(refused="!")
    handler = ReceiptHandler(store, clock=VirtualClock())
    bad = DeliverSm(
        esm_class=int(EsmClass.smsc_delivery_receipt),
        short_message=b"id:66 sub:001 dlvrd:001 stat:DELIVRD err:000 text:no!",
    )
    with caplog.at_level(logging.ERROR, logger="mesiji.services.receipts"):
        await asyncio.gather(handler.handle("sim", bad), handler.handle("sim", receipt_pdu("7")))
    assert [r.message_id_keys[0] for r in store.taken] == ["7"]
    assert (handler.stored, handler.unstorable) == (1, 1)
    assert "delivery receipt ('66',) cannot be stored" in caplog.text


async def test_receipt_values_are_made_storable_before_the_commit() -> None:
    store = PickyStore(refused="\x00")
    handler = ReceiptHandler(store, clock=VirtualClock())
    body = b"id:5 sub:001 dlvrd:001 stat:DELIVRD err:0\x000 text:a\x00b\x00\x00"
    pdu = DeliverSm(esm_class=int(EsmClass.smsc_delivery_receipt), short_message=body)
    await handler.handle("sim", pdu)
    [stored] = store.taken
    # Trailing NULs dropped, inner ones read as the field separators they stand for.
    assert stored.raw == "id:5 sub:001 dlvrd:001 stat:DELIVRD err:0 0 text:a b"
    assert "\x00" not in (stored.error_code or "")
    assert store.sizes["apply_receipts"] == [1]


def test_storable_receipt_cuts_long_values() -> None:
    receipt = IncomingReceipt("sim", ("A" * 300,), P.DELIVERED, "E" * 100, "x" * 5000)
    stored = storable_receipt(receipt)
    assert [len(stored.message_id_keys[0]), len(stored.error_code or ""), len(stored.raw)] == [
        256,
        64,
        2000,
    ]
    assert bare_receipt(IncomingReceipt("sim", ("\u00e9",), None, None, "\x01ok")).raw == "?ok"


async def test_failed_commit_makes_the_smsc_deliver_the_receipt_again(
    make_pipeline: PipelineFactory, store: FakeMessageStore
) -> None:
    async with make_pipeline(redelivery_delay=2.0) as p:
        await p.send(["hello"])
        await p.until(lambda: counts(p) == {P.IN_TRANSIT: 1})
        store.fail["apply_receipts"] = StorageUnavailable("database is locked")
        await p.clock.advance(1.0)
        await p.until(lambda: "apply_receipts" not in store.fail)  # failed once
        await p.until(lambda: counts(p) == {P.DELIVERED: 1}, step=0.5)
        assert store.calls["apply_receipts"] == 2
        await p.until(lambda: p.simulator.stats.receipts_acked == 1)
        assert p.simulator.stats.receipts_sent == 2


def counts(p: Pipeline) -> Counter[PartStatus]:
    return Counter(part.status for part in p.parts())


@pytest.mark.parametrize("max_batch", [0, -1])
def test_max_batch_must_be_positive(max_batch: int) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        ReceiptHandler(FakeMessageStore(), clock=VirtualClock(), max_batch=max_batch)


def test_a_receipt_with_malformed_tlvs_is_read_from_what_decodes() -> None:
    # An empty message_state and a 2-octet network_error_code, as some SMSCs send them.
    pdu = receipt_pdu(
        "0A3F",
        stat="UNDELIV",
        err="",
        tlvs=(
            Tlv(tlv.message_state.tag, b"", malformed=True),
            Tlv(tlv.network_error_code.tag, b"\x00\x22", malformed=True),
            Tlv.of(tlv.receipted_message_id, "0A3F"),
        ),
    )
    receipt = incoming_receipt("sim", pdu)
    assert receipt.message_id_keys[0] == "A3F"
    assert receipt.status is P.UNDELIVERED
    assert receipt.error_code == "0022"
