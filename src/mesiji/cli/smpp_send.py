"""``mesiji smpp send``: submit one message through any SMSC and show every PDU exchanged.

What an operator's engineer reaches for when a route misbehaves: it binds, submits the text
split as the gateway would split it, prints each PDU both ways and, with ``--wait-receipt``,
waits for the delivery receipt of every part and prints what it says.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from typing import TextIO

from mesiji.cli.inputs import seconds, smsc_address, window
from mesiji.errors import BindError, SmppError, TextError
from mesiji.smpp.client import BindKind, ClientSettings, SmppClient
from mesiji.smpp.codec import encode
from mesiji.smpp.connection import LinkSettings, PduObserver
from mesiji.smpp.pdus import DataSm, DeliverSm, Pdu, SubmitSmResp
from mesiji.smpp.receipts import (
    ReceiptError,
    canonical_message_id,
    is_receipt,
    receipt_from_pdu,
)
from mesiji.smpp.submit import submit_sms
from mesiji.smpp.trace import describe
from mesiji.text import Alphabet, ConcatMethod


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``smpp send`` under ``subparsers``."""
    smpp = subparsers.add_parser("smpp", help="SMPP troubleshooting tools")
    commands = smpp.add_subparsers(dest="smpp_command", required=True)
    send = commands.add_parser(
        "send", help="submit one message through an SMSC and print the PDUs exchanged"
    )
    send.add_argument(
        "--smsc",
        required=True,
        type=smsc_address,
        metavar="HOST[:PORT]",
        help="the SMSC, e.g. smsc.example.ge:2775 or [::1]:2775 (port 2775 if none)",
    )
    send.add_argument("--system-id", required=True)
    send.add_argument("--password", required=True)
    send.add_argument("--system-type", default="")
    send.add_argument("--from", dest="sender", required=True, help="sender ID or number")
    send.add_argument("--to", required=True, help="destination number, e.g. 995599123456")
    send.add_argument("--text", required=True)
    send.add_argument("--bind", choices=[k.value for k in BindKind], default="transceiver")
    send.add_argument("--alphabet", choices=["auto", *[a.value for a in Alphabet]], default="auto")
    send.add_argument("--concat", choices=[m.value for m in ConcatMethod], default="udh8")
    send.add_argument("--wait-receipt", action="store_true", help="wait for every receipt")
    send.add_argument("--timeout", type=seconds, default=30.0, help="seconds (default 30)")
    send.add_argument("--hex", action="store_true", help="also print each PDU's bytes")
    send.add_argument(
        "--window", type=window, default=None, help="requests in flight (default: parts + 1)"
    )
    send.add_argument(
        "--enquire-link",
        type=seconds,
        default=30.0,
        help="seconds of silence before an enquire_link (default 30)",
    )
    # It prints every PDU and its own errors: the client's log lines would only repeat them.
    send.set_defaults(func=run, default_log_level="error")


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the command; exit status 0 when submitted (and, if asked, receipted).

    A failure is one line on ``err`` and status 1; no receipt in time is status 2.
    """
    try:
        return asyncio.run(send(args, out, err))
    except BindError as exc:
        print(f"error: {_bind_failure(exc, args)}", file=err)
    except (SmppError, TextError, OSError, ValueError) as exc:
        print(f"error: {exc or type(exc).__name__}", file=err)
    return 1


def _bind_failure(exc: BindError, args: argparse.Namespace) -> str:
    where = _where(args)
    cause = exc.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused (is an SMSC listening there?)"
    if isinstance(cause, TimeoutError):
        return f"cannot connect to {where}: no answer within {args.timeout:g}s"
    if isinstance(cause, OSError):
        return f"cannot connect to {where}: {cause.strerror or cause}"
    return f"could not bind to {where}: {exc}"


def _where(args: argparse.Namespace) -> str:
    host, port = args.smsc
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def send(args: argparse.Namespace, out: TextIO, err: TextIO = sys.stderr) -> int:
    """Bind, submit every part, and wait for receipts if asked; the exit status.

    The first failed connect or bind raises :class:`BindError`: nothing is retried.
    """
    host, port = args.smsc
    pdus = submit_sms(
        sender=args.sender,
        destination=args.to,
        text=args.text,
        alphabet=None if args.alphabet == "auto" else Alphabet(args.alphabet),
        concat=ConcatMethod(args.concat),
        reference=random.randrange(256),
        receipt=args.wait_receipt,
    )
    for pdu in pdus:
        encode(pdu)  # an address too long for its field is refused before connecting
    settings = ClientSettings(
        host=host,
        port=port,
        system_id=args.system_id,
        password=args.password,
        system_type=args.system_type,
        bind=BindKind(args.bind),
        link=LinkSettings(
            window=args.window or len(pdus) + 1,
            response_timeout=args.timeout,
            enquire_link_interval=args.enquire_link,
        ),
        connect_timeout=args.timeout,
        reconnect_max=1.0,
    )
    receipts: dict[str, str] = {}
    arrived = asyncio.Event()

    async def on_deliver(pdu: DeliverSm | DataSm) -> None:
        if not is_receipt(pdu):
            return
        try:
            receipt = receipt_from_pdu(pdu)
        except ReceiptError as exc:
            print(f"  unreadable receipt: {exc}", file=out)
            return
        receipts[canonical_message_id(receipt.message_id)] = (
            f"receipt for {receipt.message_id}: {receipt.state.value}"
            f" (stat {receipt.stat}, err {receipt.err})"
        )
        arrived.set()

    print(f"binding to {_where(args)} as {settings.system_id!r}", file=out)
    client = SmppClient(settings, on_deliver=on_deliver, observer=_printer(out, args.hex))
    async with client:
        try:
            async with asyncio.timeout(args.timeout):
                await client.wait_bound(fail_fast=True)
        except TimeoutError:
            print(f"error: not bound within {args.timeout:g}s", file=err)
            return 1
        ids = []
        for pdu in pdus:
            response = await client.submit(pdu)
            if isinstance(response, SubmitSmResp):
                ids.append(canonical_message_id(response.message_id))
        print(f"submitted {len(ids)} part(s): {', '.join(ids)}", file=out)
        if args.wait_receipt:
            try:
                async with asyncio.timeout(args.timeout):
                    while not all(i in receipts for i in ids):
                        arrived.clear()
                        await arrived.wait()
            except TimeoutError:
                print(f"error: no receipt within {args.timeout:g}s for some part(s)", file=err)
                return 2
            for message_id in ids:
                print(receipts[message_id], file=out)
    return 0


def _printer(out: TextIO, with_hex: bool) -> PduObserver:
    def observe(direction: str, pdu: Pdu) -> None:
        raw = encode(pdu) if with_hex else None
        print(f"{direction} {describe(pdu, with_hex=raw)}", file=out, flush=True)

    return observe
