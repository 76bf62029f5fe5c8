"""The SMSC's outgoing side: deliver_sm (receipts and MO) queued per system_id, sent to binds.

As a real SMSC does, the simulator keeps what it must deliver to an ESME until a bind of that
system_id that may receive (receiver or transceiver, SMPP 3.4 §2.2) is there, spreads it over
such binds with at most ``window`` deliver_sm outstanding on each (§2.5), and delivers again
later whatever the ESME refuses or leaves unanswered, up to a number of attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mesiji.errors import (
    ConnectionClosedError,
    LocalProtocolError,
    PduError,
    ResponseTimeoutError,
)
from mesiji.simulator.scheduler import Scheduler
from mesiji.simulator.stats import Counters
from mesiji.smpp.connection import SmppConnection
from mesiji.smpp.constants import CommandStatus
from mesiji.smpp.pdus import DeliverSm

__all__ = ["Delivery", "Dispatcher", "Receiver"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# §5.1.3: the ESME says the message is bad for good ("permanent", "reject"); sending it
# again cannot help. Every other error status, ESME_RX_T_APPN first, means "later".
_FINAL_REFUSALS = frozenset({CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN})


@dataclass(eq=False, slots=True)
class Delivery:
    """One deliver_sm to get acknowledged by an ESME of ``system_id``."""

    system_id: str
    pdu: DeliverSm
    is_receipt: bool
    attempts: int = 0
    #: Resolved True once acknowledged, False once given up.
    done: asyncio.Future[bool] | None = None
    #: Resolved once the first attempt is written (or failed before writing).
    sent: asyncio.Future[None] | None = None


class Receiver(Protocol):
    """A bind deliveries can go to."""

    @property
    def conn(self) -> SmppConnection: ...

    #: deliver_sm sent on this bind and not yet answered.
    in_flight: int


class Dispatcher:
    """Queues deliveries per system_id and sends them over that system_id's receiving binds."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        counters: Counters,
        window: int,
        redelivery_delay: float,
        max_attempts: int,
    ) -> None:
        self._scheduler = scheduler
        self._counters = counters
        self._window = window
        self._redelivery_delay = redelivery_delay
        self._max_attempts = max_attempts
        self._queues: dict[str, deque[Delivery]] = {}
        self._receivers: dict[str, list[Receiver]] = {}
        self._turn: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Deliveries someone waits to see written (Delivery.sent), resolved at the latest on close.
        self._unsent: set[Delivery] = set()
        self._closed = False

    def add_receiver(self, system_id: str, receiver: Receiver) -> None:
        """A bind that may receive is up: send it what waits for its system_id."""
        self._receivers.setdefault(system_id, []).append(receiver)
        self.pump(system_id)

    def remove_receiver(self, system_id: str, receiver: Receiver) -> None:
        receivers = self._receivers.get(system_id, [])
        if receiver in receivers:
            receivers.remove(receiver)

    def queue(self, delivery: Delivery) -> None:
        """Deliver as soon as a bind has room, after what is already waiting."""
        self._queues.setdefault(delivery.system_id, deque()).append(delivery)
        self.pump(delivery.system_id)

    def send_now(self, delivery: Delivery) -> bool:
        """Start delivering at once, ahead of anything waiting, if a bind has room.

        Returns False, and queues the delivery at the front, when none has.
        """
        if delivery.sent is not None:
            self._unsent.add(delivery)
        self._queues.setdefault(delivery.system_id, deque()).appendleft(delivery)
        self.pump(delivery.system_id)
        return delivery.attempts > 0

    def pump(self, system_id: str) -> None:
        """Start as many waiting deliveries as the binds' windows allow, round robin."""
        queue = self._queues.get(system_id)
        receivers = self._receivers.get(system_id)
        if not queue or not receivers or self._closed:
            return
        count = len(receivers)
        turn = self._turn.get(system_id, 0)
        full = 0
        loop = asyncio.get_running_loop()
        while queue and full < count:
            receiver = receivers[turn % count]
            turn += 1
            conn = receiver.conn
            if (
                receiver.in_flight >= self._window
                or conn.is_closed
                or not conn.session.can_transmit
            ):
                full += 1
                continue
            full = 0
            delivery = queue.popleft()
            receiver.in_flight += 1
            delivery.attempts += 1
            task = loop.create_task(self._deliver(receiver, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._turn[system_id] = turn % count

    async def close(self) -> None:
        """Stop delivering; whatever is in flight is abandoned."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in self._queues.values():
            for delivery in queue:
                _resolve(delivery.done, False)
            queue.clear()
        for delivery in self._unsent:
            _resolve(delivery.sent, None)
        self._unsent.clear()

    async def _deliver(self, receiver: Receiver, delivery: Delivery) -> None:
        counters = self._counters
        if delivery.is_receipt:
            counters.receipts_sent += 1
        else:
            counters.mo_sent += 1
        if delivery.sent is not None:
            # Resolving first is enough: the request below is written before this task yields.
            _resolve(delivery.sent, None)
            self._unsent.discard(delivery)
        status: int | None = None
        retry_now = False
        try:
            response = await receiver.conn.request(delivery.pdu)
            status = response.command_status
        except (ConnectionClosedError, LocalProtocolError):
            retry_now = True  # the bind went away: another one, or the next, gets it
        except ResponseTimeoutError:
            pass
        except PduError:
            log.exception("cannot encode %r", delivery.pdu)
            status = CommandStatus.ESME_RX_P_APPN  # sending it again cannot help
        finally:
            receiver.in_flight -= 1
        if status == CommandStatus.ESME_ROK:
            if delivery.is_receipt:
                counters.receipts_acked += 1
            else:
                counters.mo_acked += 1
            _resolve(delivery.done, True)
        elif status in _FINAL_REFUSALS or delivery.attempts >= self._max_attempts:
            self._give_up(delivery)
        elif retry_now:
            self._queues.setdefault(delivery.system_id, deque()).appendleft(delivery)
        else:
            self._scheduler.call_later(self._redelivery_delay, self.queue, delivery)
        self.pump(delivery.system_id)  # a slot in the window is free

    def _give_up(self, delivery: Delivery) -> None:
        log.info("giving up %r after %d attempt(s)", delivery.pdu, delivery.attempts)
        if delivery.is_receipt:
            self._counters.receipts_dropped += 1
        _resolve(delivery.done, False)


def _resolve(future: asyncio.Future[T] | None, value: T) -> None:
    if future is not None and not future.done():
        future.set_result(value)
