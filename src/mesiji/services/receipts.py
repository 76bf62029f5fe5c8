"""Delivery receipts from a channel: parse, store in group commits, acknowledge after the commit.

An SMSC forgets a receipt once it hears deliver_sm_resp OK (SMPP 3.4 §4.6.2), so the receipt
must be committed first. One transaction per receipt would cap a channel at the database's
commit rate; instead receipts that arrive while a commit is running wait for the next one and
share it (group commit, as PostgreSQL's WAL writer does). Each caller still returns only once
the transaction holding its own receipt has committed, and fails if that one failed, so the
client answers ESME_RX_T_APPN and the SMSC delivers again (§5.1.3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from mesiji.clock import Clock
from mesiji.domain.statuses import part_status_from_receipt
from mesiji.smpp.pdus import DataSm, DeliverSm
from mesiji.smpp.receipts import (
    ReceiptError,
    message_id_keys,
    receipt_from_pdu,
    receipt_text,
)
from mesiji.storage.message_ports import IncomingReceipt, MessageStore, StatusChange

__all__ = ["ReceiptHandler", "ReceiptSink", "incoming_receipt"]

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
        self._pending.append((receipt, done))
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
        try:
            changes = await self._store.apply_receipts(
                [receipt for receipt, _ in batch], self._clock.now()
            )
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        self.commits += 1
        self.stored += len(batch)
        for _, done in batch:
            if not done.done():
                done.set_result(None)
        if changes and self._on_changes is not None:
            self._on_changes(changes)

    async def close(self) -> None:
        """Wait for the commit in progress, if any."""
        committer = self._committer
        if committer is not None:
            await asyncio.gather(committer, return_exceptions=True)
