"""The gateway's metrics, in the Prometheus exposition format (prometheus-client).

Each gateway has a registry of its own: nothing is global, and two gateways in one process
(the tests) count apart. Nothing is read from the database when Prometheus scrapes: every
figure is a count kept in memory where the thing happens, so the numbers are this process's
since it started, as Prometheus counters are (a restart starts them again at 0).

The services keep plain counters for their own use (``Dispatcher.stats``,
``ReceiptHandler.stored``, ...): :class:`GatewayMetrics` reads them at scrape time instead of a
second set of counters being kept beside them (docs/decisions.md); the status changes of
messages are counted here, the same way.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mesiji.domain.statuses import MessageStatus
from mesiji.services.accept import AcceptService
from mesiji.services.dispatch import Dispatcher
from mesiji.services.group_commit import AcceptBatcher
from mesiji.services.notify import Notifier
from mesiji.services.receipt_wait import ReceiptWait
from mesiji.services.receipts import ReceiptHandler
from mesiji.storage.message_ports import StatusChange

__all__ = ["GatewayMetrics"]

#: Dispatcher.stats fields exposed as ``mesiji_dispatch_<field>_total{channel}``.
_DISPATCH_OUTCOMES = {
    "claimed": "Parts claimed from the queue.",
    "submitted": "Parts the SMSC accepted (submit_sm_resp OK).",
    "rejected": "Parts the SMSC refused.",
    "failed": "Parts that could not be sent (final).",
    "deferred": "Parts left to their lease: still throttled after the client's retries.",
    "unknown": "Parts left to their lease: the link dropped or no response came.",
    "no_message_id": "Parts the SMSC accepted without a message_id: ended unknown at once.",
}


class GatewayMetrics(Collector):
    """The metrics of one gateway: :attr:`registry` is what ``/metrics`` renders.

    The counts kept in memory are read when Prometheus scrapes (:meth:`collect`).
    """

    def __init__(
        self,
        *,
        accept: AcceptService,
        batcher: AcceptBatcher,
        dispatchers: Sequence[Dispatcher],
        receipts: ReceiptHandler,
        notifier: Notifier,
        receipt_wait: ReceiptWait,
    ) -> None:
        self._accept = accept
        self._batcher = batcher
        self._dispatchers = tuple(dispatchers)
        self._receipts = receipts
        self._notifier = notifier
        self._receipt_wait = receipt_wait
        # Every status from the start, at 0: a series that appears later looks like a reset.
        self._statuses = Tally({status.value: 0 for status in MessageStatus})
        self.registry = CollectorRegistry()
        self.registry.register(self)
        # Memory, CPU, open files, collections: what the global registry would have had.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def record_changes(self, changes: Sequence[StatusChange]) -> None:
        """Count the status changes of one committed batch."""
        self._statuses.update(change.status.value for change in changes)

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        statuses = CounterMetricFamily(
            "mesiji_message_statuses",
            "Message status changes recorded (submit results, receipts), by new status.",
            labels=["status"],
        )
        for status, count in self._statuses.items():
            statuses.add_metric([status], count)
        yield statuses
        yield _counter(
            "mesiji_messages_accepted",
            "Messages accepted by the send APIs (a replayed request counts once).",
            self._accept.accepted,
        )
        yield _counter(
            "mesiji_accept_groups", "Group commits of send requests.", self._batcher.groups
        )
        yield _counter(
            "mesiji_accept_requests",
            "Send requests committed in group commits.",
            self._batcher.requests,
        )
        yield _counter(
            "mesiji_accept_overloaded",
            "Send requests refused with 429: too many were waiting to be committed.",
            self._batcher.overloaded,
        )
        yield _counter(
            "mesiji_accept_split",
            "Extra transactions run to commit failed groups again in halves (a refused value).",
            self._batcher.split,
        )
        yield GaugeMetricFamily(
            "mesiji_accept_queued",
            "Send requests waiting for the next group commit.",
            value=self._batcher.queued,
        )
        yield from self._dispatch()
        yield _counter("mesiji_receipts_stored", "Delivery receipts stored.", self._receipts.stored)
        yield _counter(
            "mesiji_receipts_unstorable",
            "Receipts the database refused even reduced to ASCII: acknowledged and logged.",
            self._receipts.unstorable,
        )
        yield _counter(
            "mesiji_receipts_given_up",
            "Parts ended unknown: no receipt within dispatch.receipt_wait_seconds.",
            self._receipt_wait.given_up,
        )
        yield _counter(
            "mesiji_callbacks_attempted",
            "Status callback attempts made.",
            self._notifier.attempts,
        )
        yield _counter(
            "mesiji_callbacks_delivered",
            "Status callbacks answered with a 2xx.",
            self._notifier.delivered,
        )

    def _dispatch(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        for field, documentation in _DISPATCH_OUTCOMES.items():
            family = CounterMetricFamily(
                f"mesiji_dispatch_{field}", documentation, labels=["channel"]
            )
            for dispatcher in self._dispatchers:
                family.add_metric([dispatcher.channel.name], getattr(dispatcher.stats, field))
            yield family
        bound = GaugeMetricFamily(
            "mesiji_channel_bound", "1 while the channel has a bind up, else 0.", labels=["channel"]
        )
        for dispatcher in self._dispatchers:
            bound.add_metric([dispatcher.channel.name], int(dispatcher.channel.bound))
        yield bound


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
