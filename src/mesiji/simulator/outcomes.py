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
from mesiji.simulator.stats import SubmitPdu
from mesiji.smpp import tlv
from mesiji.smpp.constants import EsmClass, MessageState, RegisteredDelivery
from mesiji.smpp.pdus import DeliverSm
from mesiji.smpp.receipts import MESSAGE_STATE_TO_DELIVERY_STATE, format_receipt, stat_word
from mesiji.smpp.tlv import Tlv
from mesiji.text import concat_info_from, decode_text

__all__ = ["RECEIPT_FORMS", "OutcomePicker", "ReceiptForm", "receipt_pdu", "wants_receipt"]


@dataclass(frozen=True, slots=True)
class ReceiptForm:
    """How a receipt reports one outcome.

    ``message_state`` is the TLV value of SMPP 3.4 §5.2.28, and the Appendix B ``stat:`` word
    says the same. Failures also carry network_error_code (§5.3.2.31): type 3 (GSM) and a GSM
    MAP error, which ``err:`` echoes in three digits, as many real SMSCs do.
    """

    message_state: MessageState
    network_error: int | None

    @property
    def stat(self) -> str:
        """The Appendix B ``stat:`` word of ``message_state``."""
        return stat_word(MESSAGE_STATE_TO_DELIVERY_STATE[self.message_state])

    @property
    def err(self) -> str:
        """The Appendix B ``err:`` value: the MAP error in three digits, "000" for none."""
        return f"{self.network_error or 0:03d}"


RECEIPT_FORMS: Mapping[Outcome, ReceiptForm] = MappingProxyType(
    {
        Outcome.delivered: ReceiptForm(MessageState.DELIVERED, None),
        # MAP error 1: unknown subscriber.
        Outcome.undelivered: ReceiptForm(MessageState.UNDELIVERABLE, 1),
        # MAP error 27: absent subscriber, until the validity period ran out.
        Outcome.expired: ReceiptForm(MessageState.EXPIRED, 27),
        # MAP error 11: teleservice not provisioned.
        Outcome.rejected: ReceiptForm(MessageState.REJECTED, 11),
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
    return bool(registered_delivery & _RECEIPT_ON_FAILURE) and outcome.is_failure


def _receipt_text(request: SubmitPdu) -> str:
    # Appendix B: "text" is the start of the original message, so without its UDH.
    data = getattr(request, "short_message", b"") or request.tlv(tlv.message_payload) or b""
    try:
        if request.esm_class & _UDHI:
            _, data = concat_info_from(data, udhi=True)
        return decode_text(data, request.data_coding)
    except TextError:
        return ""


def receipt_pdu(
    *,
    message_id: str,
    outcome: Outcome,
    request: SubmitPdu,
    destination: tuple[int, int, str],
    submit_date: datetime,
    done_date: datetime,
) -> DeliverSm:
    """The deliver_sm carrying the receipt of one message to one destination.

    ``request`` is the submit, whose text starts the ``text:`` field; ``destination`` is
    (ton, npi, address) of one of its destinations. The receipt travels the other way: from
    ``destination`` to the submit's source.
    """
    form = RECEIPT_FORMS[outcome]
    body = format_receipt(
        message_id=message_id,
        stat=form.stat,
        err=form.err,
        submit_date=submit_date,
        done_date=done_date,
        text=_receipt_text(request),
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
        dest_addr_ton=request.source_addr_ton,
        dest_addr_npi=request.source_addr_npi,
        destination_addr=request.source_addr,
        # SMPP 3.4 §5.2.12: message type "SMSC Delivery Receipt".
        esm_class=int(EsmClass.smsc_delivery_receipt),
        short_message=body,
        tlvs=tuple(tlvs),
    )
