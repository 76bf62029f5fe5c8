"""The composition root: one gateway process, built from frozen settings.

Everything is constructed here and handed down through constructors; nothing else reads
settings, the environment or a global. ``mesiji serve``, ``mesiji demo``, the benchmark harness
and the end-to-end tests all build their gateway with :meth:`Gateway.open`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import sqlalchemy as sa
from fastapi import FastAPI

from mesiji.clock import Clock, SystemClock
from mesiji.domain.callback_urls import DestinationPolicy
from mesiji.metrics import GatewayMetrics
from mesiji.services.accept import AcceptService
from mesiji.services.cancel import CancelService
from mesiji.services.channels import Channel
from mesiji.services.dispatch import Dispatcher
from mesiji.services.group_commit import AcceptBatcher
from mesiji.services.lookups import AccountLookups
from mesiji.services.notify import Notifier
from mesiji.services.rate_limits import SendRateLimiter
from mesiji.services.receipt_wait import ReceiptWait
from mesiji.services.receipts import ReceiptHandler
from mesiji.settings import Settings
from mesiji.storage.engine import default_sqlite_url
from mesiji.storage.message_ports import StatusChange
from mesiji.storage.messages_sql import SqlMessageStore
from mesiji.storage.sql import SqlStore, open_store
from mesiji.web.app import create_app
from mesiji.web.context import WebContext


def database_url(settings: Settings) -> str:
    """The configured database, or SQLite under the data directory."""
    return settings.database.url or default_sqlite_url(settings.data_dir)


class Gateway:
    """The parts of one gateway process and their life cycle: :meth:`start`, :meth:`close`."""

    def __init__(
        self,
        settings: Settings,
        store: SqlStore,
        *,
        clock: Clock,
        node: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.messages = SqlMessageStore(store.engine)
        self.clock = clock
        self.receipts = ReceiptHandler(self.messages, clock=clock, on_changes=self._changed)
        self.channels = [
            Channel(channel, receipts=self.receipts, clock=clock) for channel in settings.channels
        ]
        self.dispatchers = [
            Dispatcher(
                self.messages,
                channel,
                settings.dispatch,
                clock=clock,
                owner=f"{node}/{channel.name}",
                on_changes=self._changed,
            )
            for channel in self.channels
        ]
        self.receipt_wait = ReceiptWait(
            self.messages,
            wait=settings.dispatch.receipt_wait_seconds,
            clock=clock,
            on_changes=self._changed,
        )
        self.lookups = AccountLookups(store, clock, ttl=settings.http.lookup_cache_seconds)
        self.notifier = Notifier(
            self.messages,
            settings.webhooks,
            secret_for=self.lookups.webhook_secret,
            clock=clock,
            owner=node,
        )
        # Concurrent requests share one transaction (and one fsync) per group commit. Groups
        # form while the previous one commits; waiting for companions when idle (max_delay)
        # measured no faster on the peer benchmark, and only adds latency.
        self.batcher = AcceptBatcher(
            self.messages, clock, max_delay=0.0, max_queued=settings.http.max_pending_requests
        )
        # Routing comes with channel policies; until then every message takes the first channel.
        self.accept = AcceptService(
            self.lookups,
            self.messages,
            settings.channels[0],
            clock,
            default_region=settings.default_region,
            on_accepted=self._accepted,
            batcher=self.batcher,
            callback_policy=DestinationPolicy.from_cidrs(settings.webhooks.allowed_networks),
        )
        self.metrics = GatewayMetrics(
            accept=self.accept,
            batcher=self.batcher,
            dispatchers=self.dispatchers,
            receipts=self.receipts,
            notifier=self.notifier,
            receipt_wait=self.receipt_wait,
        )
        self.app: FastAPI = create_app(
            WebContext(
                store,
                self.lookups,
                self.messages,
                self.accept,
                clock,
                default_region=settings.default_region,
                cancel=CancelService(self.messages, clock, on_changes=self._changed),
                send_limits=SendRateLimiter(clock, settings.limits.send_requests_per_second),
            ),
            max_body_bytes=settings.http.max_body_bytes,
            health=self.healthy,
            metrics=self.metrics.registry,
            telemetry=settings.http.telemetry,
        )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
    ) -> Gateway:
        """Connect to the database (migrating it) and build the gateway; call :meth:`start`."""
        clock = clock or SystemClock()
        store = await open_store(database_url(settings), clock=clock)
        node = f"{socket.gethostname()}:{os.getpid()}"
        return cls(settings, store, clock=clock, node=node)

    def start(self) -> None:
        """Bind the channels and start dispatching and notifying."""
        for channel in self.channels:
            channel.start()
        for dispatcher in self.dispatchers:
            dispatcher.start()
        self.receipt_wait.start()
        self.notifier.start()

    async def close(self) -> None:
        """Stop taking work, finish what is in flight, unbind, and close the database."""
        await self.batcher.close()
        for dispatcher in self.dispatchers:
            await dispatcher.stop()
        for channel in self.channels:
            await channel.close()
        await self.receipts.close()
        await self.receipt_wait.stop()
        await self.notifier.stop()
        await self.store.close()

    async def healthy(self) -> bool:
        """Whether the database answers."""
        try:
            async with self.store.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except (sa.exc.SQLAlchemyError, OSError):
            return False
        return True

    def _accepted(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.notify()

    def _changed(self, changes: Sequence[StatusChange]) -> None:
        if changes:
            self.metrics.record_changes(changes)
            self.notifier.notify()
