"""Delivery receipts from a channel: parse, store in group commits, acknowledge after the commit.

An SMSC forgets a receipt once it hears deliver_sm_resp OK (SMPP 3.4 §4.6.2), so the receipt
must be committed first. One transaction per receipt would cap a channel at the database's
commit rate; instead receipts that arrive while a commit is running wait for the next one and
share it (group commit, as PostgreSQL's WAL writer does). Each caller still returns only once
the transaction holding its own receipt has committed. If that one failed for a transient
reason (locked, full, unreachable), the caller fails, so the client answers ESME_RX_T_APPN and
the SMSC delivers again (§5.1.3).

Each receipt has its own outcome: values are made storable first (:func:`storable_receipt`: a
NUL left in by the SMSC), and a group the database refuses for another reason is committed
again in halves (:func:`~mesiji.services.commit_apart.commit_apart`), so one bad receipt
cannot take the receipts stored with it down. A receipt refused alone is tried once more
reduced to ASCII (:func:`bare_receipt`); refused again, it is acknowledged and logged: the
SMSC would only send the same bytes again, forever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from mesiji.clock import Clock
from mesiji.domain.statuses import part_status_from_receipt
from mesiji.domain.storable import storable_text
from mesiji.services.commit_apart import commit_apart, is_transient
from mesiji.smpp.pdus import DataSm, DeliverSm
from mesiji.smpp.receipts import (
    ReceiptError,
    message_id_keys,
    receipt_from_pdu,
    receipt_text,
)
from mesiji.storage.errors import StorageUnavailable
from mesiji.storage.message_ports import IncomingReceipt, MessageStore, StatusChange

__all__ = [
    "ReceiptHandler",
    "ReceiptSink",
    "bare_receipt",
    "incoming_receipt",
    "storable_receipt",
]

log = logging.getLogger(__name__)


class ReceiptSink(Protocol):
    """Where a channel hands the receipts it receives."""

    async def handle(self, channel: str, pdu: DeliverSm | DataSm) -> None:
        """Store the receipt ``pdu``; return once it is committed."""
        ...


def incoming_receipt(channel: str, pdu: DeliverSm | DataSm) -> IncomingReceipt:
    """The receipt ``pdu`` carries, ready to store; raises ReceiptError if it has no id.

    The text is the short_message, or the message_payload TLV (§5.3.2.32) when the SMSC put it
    there; the receipted_message_id, message_state and network_error_code TLVs win over the
    text (:func:`~mesiji.smpp.receipts.parse_receipt`). The error code is the text's ``err:``,
    else the network_error_code in hex.
    """
    receipt = receipt_from_pdu(pdu)
    error_code = receipt.err
    if error_code is None and receipt.network_error_code is not None:
        error_code = receipt.network_error_code.hex().upper()
    return IncomingReceipt(
        channel=channel,
        message_id_keys=message_id_keys(receipt.message_id),
        status=part_status_from_receipt(receipt.state),
        error_code=error_code,
        raw=receipt_text(pdu),
    )


class ReceiptHandler:
    """Stores the receipts of every channel through :meth:`MessageStore.apply_receipts`.

    ``max_batch`` caps the receipts of one transaction. ``on_changes`` hears the message
    status changes of each commit (to wake the notifier).
    """

    def __init__(
        self,
        store: MessageStore,
        *,
        clock: Clock,
        max_batch: int = 500,
        on_changes: Callable[[Sequence[StatusChange]], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store = store
        self._clock = clock
        self._max_batch = max_batch
        self._on_changes = on_changes
        self._pending: list[tuple[IncomingReceipt, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None
        #: Transactions run, and receipts stored: their ratio is the mean group size.
        self.commits = 0
        self.stored = 0
        self.unreadable = 0
        #: Receipts refused by the database even reduced to ASCII, acknowledged and dropped.
        self.unstorable = 0

    async def handle(self, channel: str, pdu: DeliverSm | DataSm) -> None:
        """Store one receipt and return after its commit; raises if the commit failed.

        An unreadable receipt (no message id anywhere) is logged and returns at once: the SMSC
        would only send the same bytes again.
        """
        try:
            receipt = incoming_receipt(channel, pdu)
        except ReceiptError as exc:
            self.unreadable += 1
            log.warning("%s: unreadable delivery receipt acknowledged: %s: %r", channel, exc, pdu)
            return
        await self.store(receipt)

    async def store(self, receipt: IncomingReceipt) -> None:
        """Store an already parsed receipt, sharing a transaction with concurrent callers."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((storable_receipt(receipt), done))
        if self._committer is None:
            self._committer = asyncio.get_running_loop().create_task(self._commit_all())
        await done

    async def _commit_all(self) -> None:
        try:
            # One pass of the loop lets the other receipts of the same socket read queue up.
            await asyncio.sleep(0)
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit(batch)
        finally:
            self._committer = None

    async def _commit(self, batch: list[tuple[IncomingReceipt, asyncio.Future[None]]]) -> None:
        """Commit ``batch``, each receipt with its own outcome (see commit_apart)."""
        refused: list[int] = []

        async def commit(receipts: Sequence[IncomingReceipt]) -> list[None]:
            changes = await self._store.apply_receipts(receipts, self._clock.now())
            self.commits += 1
            self.stored += len(receipts)
            if changes and self._on_changes is not None:
                self._on_changes(changes)
            return [None] * len(receipts)

        def deliver(index: int, outcome: Exception | None) -> None:
            done = batch[index][1]
            if outcome is None:
                _settle(done, None)
            elif is_transient(outcome):
                _settle(done, outcome)  # the SMSC delivers it again, later (§5.1.3)
            else:
                refused.append(index)

        try:
            await commit_apart([receipt for receipt, _ in batch], commit, deliver)
            for index in refused:
                receipt, done = batch[index]
                _settle(done, await self._last_resort(receipt))
        finally:
            for _, done in batch:  # cancelled: the outcome is unknown, the SMSC resends
                if not done.done():
                    _settle(done, StorageUnavailable("the receipt commit was interrupted"))

    async def _last_resort(self, receipt: IncomingReceipt) -> Exception | None:
        """Store a receipt the database refused alone, reduced to plain ASCII; if even that is
        refused, acknowledge it anyway: the SMSC would resend the same bytes forever."""
        try:
            await self._store.apply_receipts([bare_receipt(receipt)], self._clock.now())
        except Exception as exc:
            if is_transient(exc):
                return exc
            self.unstorable += 1
            log.exception(
                "%s: delivery receipt %s cannot be stored; acknowledged and dropped",
                receipt.channel,
                receipt.message_id_keys[:1],
            )
            return None
        self.commits += 1
        self.stored += 1
        return None

    async def close(self) -> None:
        """Wait for the commit in progress, if any."""
        committer = self._committer
        if committer is not None:
            await asyncio.gather(committer, return_exceptions=True)


#: Longest stored receipt text, error code and message id key. Appendix B receipts are about
#: 150 characters, SMPP 3.4 message ids at most 65 (§5.2.23); the key is indexed, and a
#: PostgreSQL b-tree entry cannot exceed about 2,700 bytes.
RAW_MAX, ERROR_CODE_MAX, KEY_MAX = 2000, 64, 256


def storable_receipt(receipt: IncomingReceipt) -> IncomingReceipt:
    """``receipt`` with values every database takes: a NUL terminator some SMSCs leave in the
    short_message (an octet string, SMPP 3.4 §5.2.21) dropped, other NULs replaced, and each
    value cut to its length (:func:`mesiji.domain.storable.storable_text`)."""
    keys = tuple(storable_text(key, max_length=KEY_MAX) for key in receipt.message_id_keys)
    error_code = receipt.error_code
    if error_code is not None:
        error_code = storable_text(error_code, max_length=ERROR_CODE_MAX)
    raw = storable_text(receipt.raw, max_length=RAW_MAX)
    if (keys, error_code, raw) == (receipt.message_id_keys, receipt.error_code, receipt.raw):
        return receipt  # the usual case: nothing to change
    return dataclasses.replace(receipt, message_id_keys=keys, error_code=error_code, raw=raw)


def bare_receipt(receipt: IncomingReceipt) -> IncomingReceipt:
    """``receipt`` reduced to printable ASCII, for a last try at storing it."""
    error_code = receipt.error_code
    return dataclasses.replace(
        receipt,
        message_id_keys=tuple(_ascii(key)[:KEY_MAX] for key in receipt.message_id_keys),
        error_code=None if error_code is None else _ascii(error_code)[:ERROR_CODE_MAX],
        raw=_ascii(receipt.raw)[:RAW_MAX],
    )


def _ascii(value: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in value)


def _settle(done: asyncio.Future[None], outcome: Exception | None) -> None:
    if done.done():
        return
    if outcome is None:
        done.set_result(None)
    else:
        done.set_exception(outcome)
