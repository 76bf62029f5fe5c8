"""A channel: one configured route to an SMSC, its binds and its text policy.

The channel owns one :class:`~mesiji.smpp.client.SmppClient` built from its
:class:`~mesiji.settings.ChannelSettings`. What the SMSC delivers is sorted by esm_class
(SMPP 3.4 §5.2.12): receipts go to the :class:`~mesiji.services.receipts.ReceiptSink`, which
stores them before the deliver_sm_resp goes out; mobile-originated messages are only logged
for now.
"""

from __future__ import annotations

import logging
import random

from mesiji.clock import Clock, SystemClock
from mesiji.errors import ConfigError
from mesiji.services.receipts import ReceiptSink
from mesiji.settings import ChannelSettings
from mesiji.smpp.client import BindKind, ClientSettings, Connector, SmppClient
from mesiji.smpp.connection import LinkSettings, PduObserver
from mesiji.smpp.pdus import DataSm, DeliverSm, Pdu, SubmitSm
from mesiji.smpp.receipts import is_receipt
from mesiji.text import ConcatMethod

__all__ = ["Channel", "client_settings"]

log = logging.getLogger(__name__)


def client_settings(settings: ChannelSettings) -> ClientSettings:
    """The SMPP client settings of a channel; raises ConfigError for an unknown bind kind."""
    try:
        bind = BindKind(settings.bind)
    except ValueError:
        raise ConfigError(f"channel {settings.name}: unknown bind {settings.bind!r}") from None
    if bind is BindKind.receiver:
        raise ConfigError(f"channel {settings.name}: a receiver bind cannot submit")
    if settings.sessions < 1 or settings.window < 1:
        raise ConfigError(f"channel {settings.name}: sessions and window must be at least 1")
    return ClientSettings(
        host=settings.host,
        port=settings.port,
        system_id=settings.system_id,
        password=settings.password,
        system_type=settings.system_type,
        bind=bind,
        sessions=settings.sessions,
        link=LinkSettings(
            window=settings.window,
            response_timeout=settings.response_timeout,
            enquire_link_interval=settings.enquire_link_interval,
        ),
        # The setting's 0 means "no cap", which the client spells None.
        tps=settings.tps or None,
    )


class Channel:
    """One route: an SMPP client holding the channel's binds, and how it writes text.

    ``client`` replaces the SMPP client settings derived from ``settings`` (tests shorten the
    reconnect backoff with it); ``connector`` replaces TCP (see
    :data:`~mesiji.smpp.client.Connector`; tests reach a simulator over a memory pair).
    """

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        receipts: ReceiptSink,
        clock: Clock | None = None,
        client: ClientSettings | None = None,
        observer: PduObserver | None = None,
        rng: random.Random | None = None,
        connector: Connector | None = None,
    ) -> None:
        try:
            self.concat = ConcatMethod(settings.concat)
        except ValueError:
            raise ConfigError(
                f"channel {settings.name}: unknown concat method {settings.concat!r}"
            ) from None
        self.settings = settings
        self.allow_latin1 = settings.allow_latin1
        self._receipts = receipts
        self.client = SmppClient(
            client or client_settings(settings),
            on_deliver=self._on_deliver,
            clock=clock or SystemClock(),
            observer=observer,
            rng=rng,
            connector=connector,
        )
        #: Mobile-originated messages received (and, for now, only logged).
        self.mo_received = 0

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def bound(self) -> bool:
        """Whether every bind of the channel is up."""
        return self.client.bound

    @property
    def capacity(self) -> int:
        """Submits the channel can have outstanding at once: the window of every bind."""
        s = self.client.settings
        return s.link.window * s.sessions

    def start(self) -> None:
        """Start connecting and binding in the background."""
        self.client.start()

    @property
    def can_submit(self) -> bool:
        """Whether some bind can take submits now (one dead bind of several does not stop it)."""
        return self.client.can_submit

    async def wait_bound(self) -> None:
        """Wait until every bind is up (wrap it in a timeout)."""
        await self.client.wait_bound()

    async def wait_can_submit(self) -> None:
        """Wait until some bind can take submits."""
        await self.client.wait_can_submit()

    async def submit(self, pdu: SubmitSm) -> Pdu:
        """Submit on one of the channel's binds (see :meth:`SmppClient.submit`)."""
        return await self.client.submit(pdu)

    async def close(self) -> None:
        """Let outstanding submits finish (bounded), unbind and disconnect."""
        await self.client.close()

    async def _on_deliver(self, pdu: DeliverSm | DataSm) -> None:
        unreadable = [item.name for item in pdu.tlvs if item.malformed]
        if unreadable:
            # Kept and answered OK all the same: an error would only make the SMSC resend it.
            log.info(
                "%s: %s #%d with malformed TLV(s) %s",
                self.name,
                pdu.command_id.name,
                pdu.sequence_number,
                ", ".join(unreadable),
            )
        if is_receipt(pdu):
            await self._receipts.handle(self.name, pdu)
            return
        # Mobile-originated: storing and reassembling them is a later issue; until then the
        # SMSC is acknowledged so that it does not redeliver for ever.
        self.mo_received += 1
        log.info(
            "%s: MO message from %s to %s (data_coding 0x%02X, %d octets) not stored",
            self.name,
            pdu.source_addr,
            pdu.destination_addr,
            pdu.data_coding,
            len(pdu.short_message) if isinstance(pdu, DeliverSm) else 0,
        )
