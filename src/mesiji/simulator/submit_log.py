"""A JSON-lines record of every message the simulator accepted.

A crash test compares what a gateway believes it sent with what the SMSC really got; this log
is the SMSC's side. Lines are appended in arrival order and handed to the OS once per event
loop pass, in the same pass as the submit_sm_resp they belong to.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from typing import Any, TextIO

from mesiji.errors import TextError
from mesiji.simulator.stats import SubmittedMessage
from mesiji.smpp import tlv
from mesiji.smpp.constants import EsmClass
from mesiji.smpp.fields import SmeAddress
from mesiji.smpp.pdus import SubmitMulti
from mesiji.text import concat_info_from

__all__ = ["SubmitLog", "concat_of", "log_entry"]


def concat_of(short_message: bytes, esm_class: int, tlvs: tuple[tlv.Tlv, ...]) -> dict[str, Any]:
    """Where a part belongs in a concatenated message, or {} for a message on its own.

    From the UDH (3GPP TS 23.040 §9.2.3.24.1) when esm_class has UDHI, else from the sar_*
    TLVs (SMPP 3.4 §5.3.2.22-24).
    """
    if esm_class & EsmClass.udhi:
        try:
            info, _ = concat_info_from(short_message, udhi=True)
        except TextError:
            return {"method": "udh", "malformed": True}
        if info is not None:
            return _concat("udh", info.reference, info.total, info.seqnum)
    reference = tlv.get(tlvs, tlv.sar_msg_ref_num)
    total = tlv.get(tlvs, tlv.sar_total_segments)
    seqnum = tlv.get(tlvs, tlv.sar_segment_seqnum)
    if reference is not None and total is not None and seqnum is not None:
        return _concat("sar", reference, total, seqnum)
    return {}


def _concat(method: str, reference: int, total: int, seqnum: int) -> dict[str, Any]:
    return {"method": method, "reference": reference, "total": total, "seqnum": seqnum}


def log_entry(record: SubmittedMessage, time: datetime) -> dict[str, Any]:
    """The JSON object logged for one accepted submit."""
    pdu = record.pdu
    if isinstance(pdu, SubmitMulti):
        destinations = [
            d.destination_addr if isinstance(d, SmeAddress) else f"dl:{d.dl_name}"
            for d in pdu.dest_address
        ]
        destination = destinations[0] if destinations else ""
    else:
        destinations = [pdu.destination_addr]
        destination = pdu.destination_addr
    short_message = record.short_message
    payload = record.message_payload
    entry: dict[str, Any] = {
        "time": time.isoformat(),
        "command": pdu.command_id.name,
        "system_id": record.system_id,
        "message_id": record.message_id,
        "sequence_number": pdu.sequence_number,
        "source_addr": pdu.source_addr,
        "destination_addr": destination,
        "esm_class": pdu.esm_class,
        "registered_delivery": pdu.registered_delivery,
        "data_coding": pdu.data_coding,
        "short_message": short_message.hex(),
        "concat": concat_of(short_message, pdu.esm_class, pdu.tlvs) or None,
        "outcomes": [str(outcome) for outcome in record.outcomes],
    }
    if len(destinations) > 1:
        entry["destinations"] = destinations
    if payload is not None:
        entry["message_payload"] = payload.hex()
    return entry


class SubmitLog:
    """Appends :func:`log_entry` lines to a file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._flush_scheduled = False

    def write(self, record: SubmittedMessage, time: datetime) -> None:
        """Log one accepted submit."""
        self._file.write(json.dumps(log_entry(record, time), separators=(",", ":")) + "\n")
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Hand what is written to the OS."""
        self._flush_scheduled = False
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        self._file.close()
