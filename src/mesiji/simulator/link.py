"""The simulator's end of one TCP connection: binds, submits, throttling and dropped links.

Each connection is a :class:`~mesiji.smpp.connection.SmppConnection` in the SMSC role whose
handler is :meth:`EsmeLink.handle`. The handler answers synchronously on the submit path: no
task per submit_sm, so one core takes tens of thousands a second.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Mapping
from typing import Protocol

from mesiji.clock import Clock
from mesiji.simulator.settings import SimulatorSettings
from mesiji.simulator.stats import Counters, SubmitPdu
from mesiji.smpp import tlv
from mesiji.smpp.connection import HandlerResult, SmppConnection
from mesiji.smpp.constants import INTERFACE_VERSION_34, BindMode, CommandStatus
from mesiji.smpp.pdus import (
    Bind,
    CancelSm,
    DataSm,
    Pdu,
    QuerySm,
    ReplaceSm,
    Request,
    SubmitMulti,
    SubmitSm,
)
from mesiji.smpp.session import Role
from mesiji.smpp.tlv import Tlv

__all__ = ["EsmeLink", "LinkOwner", "RateGate", "check_credentials"]

S = CommandStatus
_SUBMITS = (SubmitSm, DataSm, SubmitMulti)
# SMPP 3.4 §4.8-§4.10: the simulator keeps no message store, so it cannot find the message.
_NO_STORE: dict[type[Request], int] = {
    QuerySm: S.ESME_RQUERYFAIL,
    CancelSm: S.ESME_RCANCELFAIL,
    ReplaceSm: S.ESME_RREPLACEFAIL,
}


class LinkOwner(Protocol):
    """What a link asks of the simulator."""

    def bound(self, link: EsmeLink) -> None:
        """``link`` is bound (called once bind_resp is written)."""

    def accept(self, link: EsmeLink, request: SubmitPdu) -> HandlerResult:
        """Accept a message; return its response, now or as an awaitable."""


def check_credentials(credentials: Mapping[str, str] | None, system_id: str, password: str) -> int:
    """The bind_resp command_status for these credentials (SMPP 3.4 §4.1, §5.1.3).

    None accepts anyone; otherwise an unknown system_id gets ESME_RINVSYSID and a wrong
    password ESME_RINVPASWD.
    """
    if credentials is None:
        return S.ESME_ROK
    expected = credentials.get(system_id)
    if expected is None:
        return S.ESME_RINVSYSID
    if not hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8")):
        return S.ESME_RINVPASWD
    return S.ESME_ROK


class RateGate:
    """At most ``rate`` events a second, in bursts of up to ``burst``.

    Unlike :class:`mesiji.pacing.TokenBucket`, a refused event takes no token: an ESME that
    keeps sending too fast is refused only for the excess, as an SMSC's throttle does.
    """

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self._rate = rate
        self._burst = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self._burst
        self._stamp: float | None = None

    def allow(self, now: float) -> bool:
        """Take a token if there is one."""
        if self._stamp is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class EsmeLink:
    """One connected ESME as the simulator sees it."""

    def __init__(
        self,
        owner: LinkOwner,
        settings: SimulatorSettings,
        counters: Counters,
        clock: Clock,
        name: str,
    ) -> None:
        self.conn = SmppConnection(
            Role.smsc, self.handle, settings=settings.link_settings(), clock=clock, name=name
        )
        self.system_id: str | None = None
        self.mode: BindMode | None = None
        #: deliver_sm sent on this link and not yet answered (kept by the dispatcher).
        self.in_flight = 0
        #: Submits received on this link, whatever their answer.
        self.submits = 0
        self._owner = owner
        self._settings = settings
        self._counters = counters
        self._clock = clock
        self._gate = RateGate(settings.max_tps) if settings.max_tps is not None else None
        self._dropping = False

    @property
    def can_receive(self) -> bool:
        """Bound as receiver or transceiver: deliver_sm may go to it (SMPP 3.4 §2.2)."""
        return self.mode is BindMode.receiver or self.mode is BindMode.transceiver

    def handle(self, request: Request) -> HandlerResult:
        """The SmppConnection handler: answer one request from the ESME."""
        if isinstance(request, _SUBMITS):
            return self._submit(request)
        if isinstance(request, Bind):
            return self._bind(request)
        if not isinstance(request, Request):
            return None  # a PDU that takes no response: nothing to say
        status = _NO_STORE.get(type(request), S.ESME_RINVCMDID)
        return request.response(status)

    def _bind(self, request: Bind) -> Pdu:
        status = check_credentials(self._settings.credentials, request.system_id, request.password)
        if status != S.ESME_ROK:
            self._counters.binds_refused += 1
            return request.response(status)
        self.system_id = request.system_id
        self.mode = BindMode(request.command_id)
        # §5.3.2.25: sc_interface_version goes only to an ESME that speaks 3.4 (knows TLVs).
        tlvs = (
            (Tlv.of(tlv.sc_interface_version, INTERFACE_VERSION_34),)
            if request.interface_version >= INTERFACE_VERSION_34
            else ()
        )
        # The session turns bound only once the response is written, after this returns.
        asyncio.get_running_loop().call_soon(self._owner.bound, self)
        return request.response(system_id=self._settings.system_id, tlvs=tlvs)

    def _submit(self, request: SubmitPdu) -> HandlerResult:
        counters = self._counters
        counters.submit_sm += 1
        if self._dropping:
            return request.response(S.ESME_RSYSERR)  # never written: the link is closing
        self.submits += 1
        count = self.submits
        settings = self._settings
        result: HandlerResult
        if settings.throttle_every is not None and count % settings.throttle_every == 0:
            counters.throttled += 1
            result = request.response(S.ESME_RTHROTTLED)
        elif settings.queue_full_every is not None and count % settings.queue_full_every == 0:
            counters.queue_full += 1
            result = request.response(S.ESME_RMSGQFUL)
        elif self._gate is not None and not self._gate.allow(self._clock.monotonic()):
            counters.throttled += 1
            result = request.response(S.ESME_RTHROTTLED)
        else:
            result = self._owner.accept(self, request)
        if settings.drop_after is not None and count >= settings.drop_after:
            self._dropping = True
            return self._drop(result)
        return result

    def _drop(self, result: HandlerResult) -> HandlerResult:
        # Fault injection: the response goes out, then the TCP connection closes with no
        # unbind (§4.2 skipped), as when an SMSC restarts or a firewall cuts the link.
        if isinstance(result, Pdu) or result is None:
            self._send_and_close(result)
            return result

        async def later(awaitable: Awaitable[Pdu | None]) -> Pdu | None:
            response = await awaitable
            self._send_and_close(response)
            return response

        return later(result)

    def _send_and_close(self, response: Pdu | None) -> None:
        if response is not None:
            self.conn.send(response)
        self.conn.close(f"drop_after={self._settings.drop_after}: fault injection")
