"""The submit_sm of a claimed part: its text cut again, its addresses and validity checked.

A part that cannot be written (a text no longer encodable, an address too long, a validity
already over) raises :class:`UnsendableError`, whose ``error_code`` the dispatcher records
with the failed part; nothing of it reaches the SMSC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from mesiji.errors import MesijiError, TextError
from mesiji.smpp.addresses import Address, destination_address, source_address
from mesiji.smpp.constants import RegisteredDelivery
from mesiji.smpp.pdus import SubmitSm
from mesiji.smpp.submit import part_submit_sm
from mesiji.storage.message_ports import PartToSend
from mesiji.text import Alphabet, ConcatMethod, Part, split_text

__all__ = ["SubmitBuilder", "UnsendableError", "smpp_absolute_time"]

_RECEIPT = int(RegisteredDelivery.receipt_always)
_ADDRESS_OCTETS = 20  # source_addr and destination_addr: C-Octet Strings of 21 (§4.4.1)
_MAX_SENDERS = 1024
_ALPHABETS = {alphabet.value: alphabet for alphabet in Alphabet}


def smpp_absolute_time(moment: datetime) -> str:
    """``moment`` as an SMPP absolute time "YYMMDDhhmmsstnnp" (SMPP 3.4 §7.1.1), in UTC.

    Written in UTC (nn=00, p="+") with tenths 0; a naive ``moment`` is taken as UTC.
    """
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{utc:%y%m%d%H%M%S}000+"


class UnsendableError(MesijiError):
    """A part that cannot be written as a submit_sm; ``error_code`` is recorded with it."""

    def __init__(self, error_code: str, detail: str) -> None:
        super().__init__(f"{error_code}: {detail}")
        self.error_code = error_code


class SubmitBuilder:
    """Writes a claimed part's submit_sm with a channel's text policy.

    The part's segment is cut again from the message body exactly as at accept time, so its
    UDH (or sar_* TLVs) carry the message's reference and the part's number. The split of the
    last message is kept, since its parts are usually claimed together.
    """

    def __init__(self, concat: ConcatMethod, *, allow_latin1: bool) -> None:
        self.concat = concat
        self.allow_latin1 = allow_latin1
        self._max_reference = 0xFF if concat is ConcatMethod.udh8 else 0xFFFF
        self._last: tuple[int, str, str, int] | None = None
        self._pieces: list[Part] = []
        # Senders are few: each is checked once (bounded, should an install have very many).
        self._senders: dict[str, Address] = {}

    def build(self, part: PartToSend, now: datetime) -> SubmitSm:
        """The submit_sm of ``part``, asking for a receipt; raises :class:`UnsendableError`."""
        validity = ""
        if part.valid_until is not None:
            if part.valid_until <= now:
                raise UnsendableError("VALIDITY_EXPIRED", f"valid until {part.valid_until}")
            validity = smpp_absolute_time(part.valid_until)
        piece = self._piece(part)
        source = self._senders.get(part.sender)
        if source is None:
            source = _checked(source_address(part.sender), "ESME_RINVSRCADR")
            if len(self._senders) >= _MAX_SENDERS:
                self._senders.clear()
            self._senders[part.sender] = source
        dest = _checked(destination_address(part.destination), "ESME_RINVDSTADR")
        return part_submit_sm(
            piece, source, dest, registered_delivery=_RECEIPT, validity_period=validity
        )

    def _piece(self, part: PartToSend) -> Part:
        # The reference is masked to the method's field: udh8 carries 8 bits (3GPP TS 23.040
        # §9.2.3.24.1), udh16 and sar_msg_ref_num 16 (§9.2.3.24.8, SMPP 3.4 §5.3.2.22).
        reference = part.concat_reference & self._max_reference
        key = (part.message_id, part.body, part.alphabet, reference)
        if key != self._last:
            self._last = None
            alphabet = _ALPHABETS.get(part.alphabet)
            if alphabet is None:
                raise UnsendableError("TEXT_NOT_ENCODABLE", f"alphabet {part.alphabet!r}")
            if alphabet is Alphabet.latin1 and not self.allow_latin1:
                raise UnsendableError("LATIN1_NOT_ALLOWED", "the channel does not send Latin-1")
            try:
                self._pieces = split_text(
                    part.body, alphabet=alphabet, method=self.concat, reference=reference
                )
            except TextError as exc:
                raise UnsendableError("TEXT_NOT_ENCODABLE", str(exc)) from exc
            self._last = key
        if len(self._pieces) != part.total or not 1 <= part.seqnum <= part.total:
            raise UnsendableError(
                "SEGMENTS_MISMATCH",
                f"part {part.seqnum}/{part.total} of a text cut into {len(self._pieces)}",
            )
        return self._pieces[part.seqnum - 1]


def _checked(address: Address, error_code: str) -> Address:
    try:
        fits = len(address.addr.encode("latin-1")) <= _ADDRESS_OCTETS
    except UnicodeEncodeError:
        fits = False
    if not fits:
        raise UnsendableError(error_code, f"address {address.addr!r} cannot be sent")
    return address
