"""Drawing each message's fate and writing the delivery receipt that reports it."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from mesiji.errors import TextError
from mesiji.simulator.settings import Outcome
from mesiji.smpp import tlv
from mesiji.smpp.constants import EsmClass, MessageState, RegisteredDelivery
from mesiji.smpp.pdus import DeliverSm
from mesiji.smpp.receipts import format_receipt
from mesiji.smpp.tlv import Tlv
from mesiji.text import concat_info_from, decode_text

__all__ = ["RECEIPT_FORMS", "OutcomePicker", "ReceiptForm", "receipt_pdu", "wants_receipt"]


@dataclass(frozen=True, slots=True)
class ReceiptForm:
    """How a receipt reports one outcome.

    ``stat`` is the Appendix B word, ``err`` its three-digit error, and ``message_state`` the
    TLV value of SMPP 3.4 §5.2.28. Failures also carry network_error_code (§5.3.2.31): type 3
    (GSM) and the GSM MAP error that ``err`` echoes, as many real SMSCs do.
    """

    stat: str
    err: str
    message_state: MessageState
    network_error: int | None


RECEIPT_FORMS: Mapping[Outcome, ReceiptForm] = MappingProxyType(
    {
        Outcome.delivered: ReceiptForm("DELIVRD", "000", MessageState.DELIVERED, None),
        # MAP error 1: unknown subscriber.
        Outcome.undelivered: ReceiptForm("UNDELIV", "001", MessageState.UNDELIVERABLE, 1),
        # MAP error 27: absent subscriber, until the validity period ran out.
        Outcome.expired: ReceiptForm("EXPIRED", "027", MessageState.EXPIRED, 27),
        # MAP error 11: teleservice not provisioned.
        Outcome.rejected: ReceiptForm("REJECTD", "011", MessageState.REJECTED, 11),
    }
)

_GSM_NETWORK = 3  # network_error_code network type, SMPP 3.4 §5.3.2.31
# Plain ints: IntFlag arithmetic costs an enum construction per operation on the hot path.
_RECEIPT_ALWAYS = int(RegisteredDelivery.receipt_always)
_RECEIPT_ON_FAILURE = int(RegisteredDelivery.receipt_on_failure)
_UDHI = int(EsmClass.udhi)


class OutcomePicker:
    """Draws outcomes by weight from a seeded generator.

    Uses one ``random()`` per draw against a cumulative table, so a given seed gives the same
    sequence on every Python version (``Random.choices`` makes no such promise).
    """

    def __init__(self, weights: Mapping[Outcome, float], seed: int | None = None) -> None:
        positive = [(outcome, weight) for outcome, weight in weights.items() if weight > 0]
        self._outcomes = [outcome for outcome, _ in positive]
        self._cumulative = list(itertools.accumulate(weight for _, weight in positive))
        self._rng = random.Random(seed)
        self._only = self._outcomes[0] if len(self._outcomes) == 1 else None

    def pick(self) -> Outcome:
        """The next outcome."""
        if self._only is not None:
            return self._only
        point = self._rng.random() * self._cumulative[-1]
        index = bisect.bisect_right(self._cumulative, point)
        return self._outcomes[min(index, len(self._outcomes) - 1)]


def wants_receipt(registered_delivery: int, outcome: Outcome) -> bool:
    """Whether ``registered_delivery`` asks for a receipt of ``outcome`` (SMPP 3.4 §5.2.17)."""
    if registered_delivery & _RECEIPT_ALWAYS:
        return True
    return bool(registered_delivery & _RECEIPT_ON_FAILURE) and outcome is not Outcome.delivered


def _receipt_text(
    short_message: bytes, esm_class: int, data_coding: int, payload: bytes | None
) -> str:
    # Appendix B: "text" is the start of the original message, so without its UDH.
    data = short_message or payload or b""
    try:
        if esm_class & _UDHI:
            _, data = concat_info_from(data, udhi=True)
        return decode_text(data, data_coding)
    except TextError:
        return ""


def receipt_pdu(
    *,
    message_id: str,
    outcome: Outcome,
    source: tuple[int, int, str],
    destination: tuple[int, int, str],
    submitted: tuple[bytes, int, int, bytes | None],
    submit_date: datetime,
    done_date: datetime,
) -> DeliverSm:
    """The deliver_sm carrying the receipt of one message to one destination.

    ``source`` and ``destination`` are (ton, npi, address) of the submit; the receipt travels
    the other way, so they are swapped. ``submitted`` is (short_message, esm_class,
    data_coding, message_payload) of the submit, for the ``text:`` field.
    """
    form = RECEIPT_FORMS[outcome]
    text = _receipt_text(*submitted)
    body = format_receipt(
        message_id=message_id,
        stat=form.stat,
        err=form.err,
        submit_date=submit_date,
        done_date=done_date,
        text=text,
    )
    tlvs = [
        Tlv.of(tlv.receipted_message_id, message_id),
        Tlv.of(tlv.message_state, int(form.message_state)),
    ]
    if form.network_error is not None:
        code = bytes((_GSM_NETWORK, form.network_error >> 8, form.network_error & 0xFF))
        tlvs.append(Tlv.of(tlv.network_error_code, code))
    return DeliverSm(
        source_addr_ton=destination[0],
        source_addr_npi=destination[1],
        source_addr=destination[2],
        dest_addr_ton=source[0],
        dest_addr_npi=source[1],
        destination_addr=source[2],
        # SMPP 3.4 §5.2.12: message type "SMSC Delivery Receipt".
        esm_class=int(EsmClass.smsc_delivery_receipt),
        short_message=body,
        tlvs=tuple(tlvs),
    )
