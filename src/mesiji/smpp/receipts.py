"""SMSC delivery receipts: parse them, match them to submits, and write them.

An SMSC reports the fate of a message with a deliver_sm whose esm_class message type is
"SMSC Delivery Receipt" (SMPP 3.4 §5.2.12). Its short_message (or message_payload) carries the
text format of SMPP 3.4 Appendix B::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
    err:E text:...

and it often carries the TLVs receipted_message_id (§5.3.2.12), message_state (§5.3.2.35) and
network_error_code (§5.3.2.31) as well. Appendix B is only informative, so every SMSC prints it
a little differently; :func:`parse_receipt` is tolerant and maps whatever it gets to one
:class:`DeliveryState`.

Everything here is pure: no I/O, no clock, no asyncio.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from mesiji.domain.delivery import DeliveryState
from mesiji.errors import SmppError
from mesiji.smpp import tlv
from mesiji.smpp.constants import ESM_CLASS_TYPE_MASK, EsmClass, MessageState
from mesiji.smpp.pdus import DataSm, DeliverSm

__all__ = [
    "MESSAGE_STATE_TO_DELIVERY_STATE",
    "STAT_WORDS",
    "Receipt",
    "ReceiptError",
    "canonical_message_id",
    "format_receipt",
    "message_id_keys",
    "parse_receipt",
    "stat_word",
    "state_from_message_state",
    "state_from_stat",
]


class ReceiptError(SmppError):
    """A delivery receipt that cannot be used: no message id in its TLVs nor in its text."""


#: stat words (upper case) to states: the seven-letter words of SMPP 3.4 Appendix B and §5.2.28,
#: plus the spellings seen from real SMSCs.
STAT_WORDS: Mapping[str, DeliveryState] = MappingProxyType(
    {
        "DELIVRD": DeliveryState.DELIVERED,
        "DELIVERED": DeliveryState.DELIVERED,
        "UNDELIV": DeliveryState.UNDELIVERED,
        "UNDELIVERABLE": DeliveryState.UNDELIVERED,
        "UNDELIVERED": DeliveryState.UNDELIVERED,
        "FAILED": DeliveryState.UNDELIVERED,
        "EXPIRED": DeliveryState.EXPIRED,
        "DELETED": DeliveryState.DELETED,
        "REJECTD": DeliveryState.REJECTED,
        "REJECTED": DeliveryState.REJECTED,
        "ACCEPTD": DeliveryState.ACCEPTED,
        "ACCEPTED": DeliveryState.ACCEPTED,
        "ACKED": DeliveryState.ACCEPTED,
        "UNKNOWN": DeliveryState.UNKNOWN,
        "ENROUTE": DeliveryState.ENROUTE,
    }
)

#: message_state TLV values (SMPP 3.4 §5.2.28) to states.
MESSAGE_STATE_TO_DELIVERY_STATE: Mapping[MessageState, DeliveryState] = MappingProxyType(
    {
        MessageState.ENROUTE: DeliveryState.ENROUTE,
        MessageState.DELIVERED: DeliveryState.DELIVERED,
        MessageState.EXPIRED: DeliveryState.EXPIRED,
        MessageState.DELETED: DeliveryState.DELETED,
        MessageState.UNDELIVERABLE: DeliveryState.UNDELIVERED,
        MessageState.ACCEPTED: DeliveryState.ACCEPTED,
        MessageState.UNKNOWN: DeliveryState.UNKNOWN,
        MessageState.REJECTED: DeliveryState.REJECTED,
    }
)

_STATE_TO_STAT_WORD: Mapping[DeliveryState, str] = MappingProxyType(
    {
        DeliveryState.DELIVERED: "DELIVRD",
        DeliveryState.UNDELIVERED: "UNDELIV",
        DeliveryState.EXPIRED: "EXPIRED",
        DeliveryState.DELETED: "DELETED",
        DeliveryState.REJECTED: "REJECTD",
        DeliveryState.ACCEPTED: "ACCEPTD",
        DeliveryState.UNKNOWN: "UNKNOWN",
        DeliveryState.ENROUTE: "ENROUTE",
    }
)

# message_state values by number, so a TLV value outside §5.2.28 is a miss, not a ValueError.
_STATE_BY_TLV_VALUE: Mapping[int, DeliveryState] = MappingProxyType(
    {int(k): v for k, v in MESSAGE_STATE_TO_DELIVERY_STATE.items()}
)


def state_from_stat(word: str) -> DeliveryState:
    """The state a receipt's ``stat:`` word stands for, case-insensitively.

    A word Mesiji does not know maps to :attr:`DeliveryState.UNKNOWN`.
    """
    return STAT_WORDS.get(word.strip().upper(), DeliveryState.UNKNOWN)


def state_from_message_state(value: int) -> DeliveryState | None:
    """The state of a message_state TLV value, or None for a value outside SMPP 3.4 §5.2.28."""
    return _STATE_BY_TLV_VALUE.get(value)


def stat_word(state: DeliveryState) -> str:
    """The SMPP 3.4 Appendix B ``stat:`` word for a state (``DELIVRD``, ``UNDELIV``, ...)."""
    return _STATE_TO_STAT_WORD[state]


@dataclass(frozen=True, slots=True)
class Receipt:
    """A parsed delivery receipt.

    ``message_id`` is the id as the SMSC gave it, less surrounding whitespace and NULs
    (receipted_message_id if present, else the ``id:`` field); use :func:`message_id_keys`
    to match it to a submit_sm_resp.
    ``stat`` is the raw ``stat:`` word, ``err`` the raw ``err:`` value, ``text`` the raw
    ``text:`` value (None when the field is absent). Dates are timezone-aware UTC; Appendix B
    gives no zone, so the SMSC's local time is taken as UTC.
    """

    message_id: str
    state: DeliveryState
    stat: str | None = None
    err: str | None = None
    sub: int | None = None
    dlvrd: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    text: str | None = None
    network_error_code: bytes | None = None

    @property
    def is_final(self) -> bool:
        """Whether this receipt closes the message (see :attr:`DeliveryState.is_final`)."""
        return self.state.is_final


# A field name starts a field only at the start of the body or after whitespace or a NUL
# (some SMSCs separate fields with the C-string terminators they copy along), so colons
# inside values ("id:ab:cd") do not start fields. re.ASCII keeps IGNORECASE from matching
# non-ASCII look-alikes (U+212A KELVIN SIGN for "k").
_KEY = re.compile(
    r"(?<![^\s\x00])(submit[ _]*date|done[ _]*date|[a-z][a-z0-9_]*)[ \t]*:",
    re.IGNORECASE | re.ASCII,
)
_WORD = re.compile(r"[^\s\x00]+")
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_DATE = re.compile(r"[0-9]{10}(?:[0-9]{2})?", re.ASCII)


def parse_receipt(
    body: bytes | str,
    *,
    receipted_message_id: str | None = None,
    message_state: int | None = None,
    network_error_code: bytes | None = None,
) -> Receipt:
    """Parse the SMPP 3.4 Appendix B text of a delivery receipt.

    ``body`` is the short_message or message_payload; bytes are decoded as Latin-1 (receipts
    are ASCII in practice, and Latin-1 decodes any byte). Field names are matched in any case
    and order, unknown fields are ignored, missing ones are None, and ``text:`` runs verbatim
    to the end of the body, whatever it contains. The TLVs win over the text:
    ``receipted_message_id`` over ``id:`` and a valid ``message_state`` over ``stat:``.
    ``network_error_code`` is kept as given.

    Raises :class:`ReceiptError`, and nothing else, when neither the TLV nor the text has a
    message id.
    """
    text = body if isinstance(body, str) else bytes(body).decode("latin-1")
    # A C-Octet String copied whole into short_message leaves its NUL terminator behind.
    fields, receipt_text = _split_fields(text.rstrip("\x00"))

    message_id = _clean_id(receipted_message_id) or _clean_id(fields.get("id"))
    if message_id is None:
        raise ReceiptError("delivery receipt without a message id")

    stat = fields.get("stat") or None
    state = state_from_message_state(message_state) if message_state is not None else None
    if state is None:
        state = state_from_stat(stat) if stat is not None else DeliveryState.UNKNOWN

    return Receipt(
        message_id=message_id,
        state=state,
        stat=stat,
        err=fields.get("err") or None,
        sub=_parse_int(fields.get("sub")),
        dlvrd=_parse_int(fields.get("dlvrd", fields.get("dlvr"))),
        submit_date=_parse_date(fields.get("submitdate")),
        done_date=_parse_date(fields.get("donedate")),
        text=receipt_text,
        network_error_code=None if network_error_code is None else bytes(network_error_code),
    )


def _split_fields(text: str) -> tuple[dict[str, str], str | None]:
    """The ``name: value`` fields before ``text:``, and what follows ``text:`` (or None).

    Names are lower-cased with spaces and underscores removed ("submit date" -> "submitdate");
    a value is the first word after the colon (NULs separate words as whitespace does), ""
    when there is none; the first of repeated names wins.
    """
    fields: dict[str, str] = {}
    name: str | None = None
    value_start = 0
    for match in _KEY.finditer(text):
        if name is not None:
            fields.setdefault(name, _first_word(text[value_start : match.start()]))
        name = match.group(1).lower().replace(" ", "").replace("_", "")
        value_start = match.end()
        if name == "text":
            return fields, text[value_start:]
    if name is not None:
        fields.setdefault(name, _first_word(text[value_start:]))
    return fields, None


def _first_word(segment: str) -> str:
    """The first run of characters that are neither whitespace nor NUL, or ""."""
    word = _WORD.search(segment)
    return word.group() if word else ""


def _clean_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    cleaned = raw.strip().strip("\x00").strip()
    return cleaned or None


def _parse_int(raw: str | None) -> int | None:
    if raw is None or _DIGITS.fullmatch(raw) is None:
        return None
    return int(raw)


def _parse_date(raw: str | None) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss (SMPP 3.4 Appendix B) as UTC; anything else is None.

    Two-digit years are taken as 20YY: receipts describe messages sent minutes or days ago.
    """
    if raw is None or _DATE.fullmatch(raw) is None:
        return None
    second = int(raw[10:12]) if len(raw) == 12 else 0
    try:
        return datetime(
            2000 + int(raw[0:2]),
            int(raw[2:4]),
            int(raw[4:6]),
            int(raw[6:8]),
            int(raw[8:10]),
            second,
            tzinfo=UTC,
        )
    except ValueError:
        return None


# SMPP 3.4 §5.2.23: message_id is a C-Octet String of at most 65 octets. Longer input is not a
# real id, so it is not converted between bases (which would also be slow on huge input).
_MAX_ID_LENGTH = 64
_HEX_DIGITS = frozenset("0123456789ABCDEF")


def message_id_keys(message_id: str) -> tuple[str, ...]:
    """Normalized lookup keys, so a receipt's id finds the submit_sm_resp message_id.

    SMSCs print the same id differently in the two places: padded with zeros, in another case,
    and sometimes in hex in one and decimal in the other (Kannel's ``msg-id-type`` setting
    exists for that). The keys, in this order, without duplicates:

    1. the literal form: whitespace and NULs removed, upper-cased, leading zeros stripped
       ("0" if nothing else is left);
    2. if that is all decimal digits, the same number written in hex (upper case);
    3. if that is valid hex, the same number written in decimal.

    Index a submitted message under all its keys and look a receipt up by each of its keys,
    first match wins. Digits are also valid hex, so "2623" yields ("2623", "A3F", "9763"):
    the other-base keys can collide across ids, so scope lookups to one SMSC link and prefer
    a match on the literal key.
    An id longer than 64 characters keeps only the literal form.
    """
    compact = "".join(message_id.split()).replace("\x00", "").upper()
    literal = compact.lstrip("0") or compact[:1]
    keys = [literal]
    if literal and len(literal) <= _MAX_ID_LENGTH:
        if literal.isascii() and literal.isdigit():
            keys.append(f"{int(literal):X}")
        if _HEX_DIGITS.issuperset(literal):
            keys.append(str(int(literal, 16)))
    return tuple(dict.fromkeys(keys))


def canonical_message_id(message_id: str) -> str:
    """The literal normalized form of a message id: the first of :func:`message_id_keys`."""
    return message_id_keys(message_id)[0]


_TEXT_LIMIT = 20  # SMPP 3.4 Appendix B: "the first 20 characters of the short message"


def format_receipt(
    *,
    message_id: str,
    stat: str,
    err: str = "000",
    submit_date: datetime,
    done_date: datetime,
    text: str = "",
    sub: int = 1,
    dlvrd: int | None = None,
) -> bytes:
    """Write a receipt in the text format of SMPP 3.4 Appendix B.

    ``id:%s sub:%03d dlvrd:%03d submit date:%y%m%d%H%M done date:%y%m%d%H%M stat:%s err:%s
    text:%s``, with ``text`` cut to 20 characters and ``dlvrd`` defaulting to 1 for DELIVRD
    and 0 otherwise. Aware dates are converted to UTC; naive ones are taken as UTC. The result
    is Latin-1, characters outside it written as "?". ``message_id`` must not contain
    whitespace, or :func:`parse_receipt` will read only its first word back.
    """
    if dlvrd is None:
        dlvrd = 1 if stat.upper() == "DELIVRD" else 0
    line = (
        f"id:{message_id} sub:{sub:03d} dlvrd:{dlvrd:03d}"
        f" submit date:{_utc(submit_date):%y%m%d%H%M} done date:{_utc(done_date):%y%m%d%H%M}"
        f" stat:{stat} err:{err} text:{text[:_TEXT_LIMIT]}"
    )
    return line.encode("latin-1", errors="replace")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


# SMPP 3.4 §5.2.12, message type bits 5-2: the SMSC Delivery Receipt, and the intermediate
# delivery notification, which carries a non-final state in the same Appendix B format.
_RECEIPT_TYPES = frozenset(
    {int(EsmClass.smsc_delivery_receipt), int(EsmClass.intermediate_notification)}
)


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    """Whether ``pdu``'s esm_class says it carries a delivery receipt (SMPP 3.4 §5.2.12)."""
    return pdu.esm_class & ESM_CLASS_TYPE_MASK in _RECEIPT_TYPES


def receipt_text(pdu: DeliverSm | DataSm) -> str:
    """The receipt's text: the message_payload TLV (§5.3.2.32) if the SMSC used it, else the
    short_message; Latin-1, so any octet decodes.

    NULs are C-string terminators some SMSCs copy into the text, never part of the Appendix B
    text: those at its end are dropped, others read as spaces, since they only separate fields
    as spaces do. The text can then be kept as is, on PostgreSQL too.
    """
    body = pdu.tlv(tlv.message_payload)
    if body is None and isinstance(pdu, DeliverSm):
        body = pdu.short_message
    return (body or b"").rstrip(b"\x00").replace(b"\x00", b" ").decode("latin-1")


def receipt_from_pdu(pdu: DeliverSm | DataSm) -> Receipt:
    """The receipt ``pdu`` carries, its TLVs preferred over its text; raises ReceiptError.

    What a malformed TLV (see :mod:`mesiji.smpp.tlv`) still says is used: a
    receipted_message_id up to its first NUL, a network_error_code of any length (§5.3.2.31
    says 3 octets; SMSCs send 2 and more). A malformed message_state says nothing, and the
    ``stat:`` word of the text decides.
    """
    receipted_id = pdu.tlv(tlv.receipted_message_id)
    if receipted_id is None:
        raw_id = tlv.malformed(pdu.tlvs, tlv.receipted_message_id)
        if raw_id is not None:
            receipted_id = raw_id.split(b"\x00", 1)[0].decode("latin-1")
    error_code = pdu.tlv(tlv.network_error_code)
    if error_code is None:
        error_code = tlv.malformed(pdu.tlvs, tlv.network_error_code) or None
    return parse_receipt(
        receipt_text(pdu),
        receipted_message_id=receipted_id,
        message_state=pdu.tlv(tlv.message_state),
        network_error_code=error_code,
    )
