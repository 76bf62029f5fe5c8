"""Notify: deliver the callbacks of the notification outbox, signed, retried with backoff.

::

    claim due rows (lease) ──▶ one task per attempt: HTTP over aiohttp ──▶ record (in batches)

Each status change writes a notification row in the same transaction (see
:mod:`mesiji.storage.message_ports`); the notifier claims due rows, sends them and records
every attempt. A callback is a POST of the stored JSON with::

    Content-Type: application/json
    Mesiji-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>

keyed with the account's webhook secret (:mod:`mesiji.domain.keys`). Any 2xx answer is a
delivery (smsoffice.ge-style receivers answer 200 with the body "OK"); redirects are not
followed. Anything else, or no answer within ``timeout`` (of the injected clock, for the whole
attempt), is tried again after an exponential backoff until ``max_attempts``. What is stored of
a failed attempt, and shown to the client, is its status code and a short fixed reason ("HTTP
500", "connection refused", "timed out"): never the body of the answer.

Callbacks reach only the destinations :class:`~mesiji.domain.callback_urls.DestinationPolicy`
allows (global addresses, and ``[webhooks] allowed_networks``): an address in the URL is
checked before sending, a name as it is resolved (:mod:`mesiji.services.callback_guard`). A
refused destination, or a URL that cannot be used, is given up at once.

smsoffice.ge-compatible account callbacks are GET requests: a payload of the form
``{"method": "GET", "query": {...}}`` is sent as a GET with those parameters appended to the
URL's own query string. Its signature then covers the whole query string sent, in place of a
body, so the URL goes on the wire exactly as :func:`callback_request` wrote it.

Requests go through one aiohttp session (connections kept alive, at most ``concurrency``):
httpx cost 5 to 25 times more CPU per callback (docs/decisions.md, entry 4). Due rows are
claimed a batch at a time, once a quarter of the slots are free, and outcomes are stored in
batches too (``record_batch``, or after ``record_delay``, or at once when nothing else is in
flight): one transaction for many attempts.

Delivery is at least once: a callback whose attempt was not recorded (the gateway stopped, the
database failed past a few retries) is sent again after its lease, so receivers should be
idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from urllib.request import getproxies

import aiohttp
from aiohttp.abc import AbstractResolver

from mesiji.clock import Clock, finish_or_cancel, first_completed
from mesiji.domain.callback_urls import (
    CallbackUrlError,
    DestinationPolicy,
    destination_refusal,
    parse_callback_url,
    wire_url,
)
from mesiji.domain.keys import SIGNATURE_HEADER, webhook_signature_header
from mesiji.pacing import Backoff
from mesiji.services.batching import BatchWriter, RetryPolicy
from mesiji.services.callback_guard import GuardedResolver, failure_reason, refused_destination
from mesiji.services.deadlines import Deadlines
from mesiji.settings import WebhookSettings
from mesiji.storage.message_ports import MessageStore, Notification, NotificationAttempt

__all__ = ["Notifier", "SecretLookup", "callback_request"]

log = logging.getLogger(__name__)

#: The webhook secret of an account, or None when the account does not exist.
SecretLookup = Callable[[int], Awaitable[str | None]]

_USER_AGENT = "Mesiji"
# An answer's body is read (so the connection can be used again) up to this much, never shown.
_MAX_BODY = 64 * 1024
_KEEPALIVE = 15.0  # seconds an idle connection to a receiver is kept
# Tries to store a batch of outcomes before it is dropped (its rows come back after their
# lease and are sent again: delivery is at least once), fewer at shutdown, where nothing is
# worth waiting long for.
_RECORD_RETRY = RetryPolicy(tries=6, tries_closing=3, backoff_initial=0.1, backoff_max=5.0)


def callback_request(
    notification: Notification, secret: str, timestamp: int
) -> tuple[str, str, dict[str, str], bytes]:
    """(method, url, headers, body) of one callback attempt, signed at ``timestamp``."""
    form = _get_form(notification.payload)
    if form is None:
        body = notification.payload.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: webhook_signature_header(secret, body, timestamp),
        }
        return "POST", notification.url, headers, body
    scheme, netloc, path, query, _ = urlsplit(notification.url)
    extra = urlencode([(str(key), _query_value(value)) for key, value in form.items()])
    query = f"{query}&{extra}" if query and extra else query or extra
    url = urlunsplit((scheme, netloc, path, query, ""))
    headers = {SIGNATURE_HEADER: webhook_signature_header(secret, query.encode(), timestamp)}
    return "GET", url, headers, b""


def _get_form(payload: str) -> dict[str, Any] | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or str(data.get("method", "")).upper() != "GET":
        return None
    query = data.get("query")
    return query if isinstance(query, dict) else None


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Notifier:
    """Claims due notifications and delivers them, ``concurrency`` at a time.

    ``secret_for`` gives an account's webhook secret. ``http`` is the aiohttp session to send
    with (the caller's to close); by default the notifier makes its own in :meth:`start` (a
    session belongs to a running event loop) and closes it in :meth:`stop`; it resolves names
    through a :class:`~mesiji.services.callback_guard.GuardedResolver` over ``resolver``
    (aiohttp's default when None; tests inject their own), closed with it. ``poll_interval``
    is how often, in seconds of ``clock``, due notifications are looked for when nobody called
    :meth:`notify` (retries fall due that way). A claimed notification is nobody else's for
    ``lease_seconds``. Outcomes are stored ``record_batch`` at a time, or ``record_delay``
    seconds of ``clock`` after the first one came.
    """

    def __init__(
        self,
        store: MessageStore,
        settings: WebhookSettings,
        *,
        secret_for: SecretLookup,
        clock: Clock,
        owner: str,
        http: aiohttp.ClientSession | None = None,
        resolver: AbstractResolver | None = None,
        concurrency: int = 64,
        poll_interval: float = 1.0,
        lease_seconds: float | None = None,
        stop_timeout: float = 10.0,
        record_batch: int = 200,
        record_delay: float = 0.02,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or settings.max_attempts < 1 or record_batch < 1:
            raise ValueError("concurrency, max_attempts and record_batch must be at least 1")
        self._store = store
        self._settings = settings
        self._secret_for = secret_for
        self._clock = clock
        self._owner = owner
        self._http = http
        self._own_http = False
        self._policy = DestinationPolicy.from_cidrs(settings.allowed_networks)
        self._resolver = resolver
        self._guard: GuardedResolver | None = None
        self._concurrency = concurrency
        # Claim only once this many slots are free: a claim is a write transaction, and one
        # per finished callback would cost more than the callbacks.
        self._claim_min = max(1, concurrency // 4)
        self._poll_interval = poll_interval
        self._lease = (
            lease_seconds if lease_seconds is not None else max(60.0, 4 * settings.timeout)
        )
        self._stop_timeout = stop_timeout
        self._rng = rng or random.Random()
        # Delays between a callback's attempts; the attempt count is the row's own.
        self._retry_backoff = Backoff(settings.backoff_initial, settings.backoff_max, rng=self._rng)
        self._deadlines = Deadlines(clock, settings.timeout)
        # Group commit: one record_notification_attempts transaction for many outcomes.
        # Nothing waits for an outcome to be stored, so add()'s futures are left unawaited.
        self._recorder = BatchWriter[NotificationAttempt](
            self._record,
            clock,
            batch=record_batch,
            delay=record_delay,
            description="callback attempts",
            retry=_RECORD_RETRY,
        )
        self._inflight: set[asyncio.Task[None]] = set()
        self._slot = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        #: Attempts made, and how many were deliveries.
        self.attempts = 0
        self.delivered = 0

    @property
    def recorded(self) -> int:
        """Attempts stored."""
        return self._recorder.stored

    @property
    def record_calls(self) -> int:
        """record_notification_attempts calls (transactions) that stored them."""
        return self._recorder.calls

    def start(self) -> None:
        """Start delivering in the background; call from the event loop that will run it."""
        if self._loop is not None:
            return
        loop = asyncio.get_running_loop()
        if self._http is None:
            self._guard = GuardedResolver(self._policy, self._resolver)
            self._http = _new_session(self._concurrency, self._guard)
            self._own_http = True
        self._deadlines.start()
        self._recorder.start()
        self._loop = loop.create_task(self._run())

    def notify(self) -> None:
        """Notifications were written: look for due ones now."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, let the attempts under way finish (bounded), record them, and close
        the session the notifier made."""
        if self._loop is None:
            return
        self._loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._loop
        self._loop = None
        # Attempts cut short here are not recorded: their lease brings them back.
        await finish_or_cancel(list(self._inflight), self._clock, self._stop_timeout)
        await self._recorder.close()
        await self._deadlines.close()
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
            self._own_http = False
        if self._guard is not None:
            # The connector leaves a resolver it was given to its owner.
            await self._guard.close()
            self._guard = None

    async def _run(self) -> None:
        backoff = Backoff(0.1, 10.0, rng=self._rng)
        while True:
            free = self._concurrency - len(self._inflight)
            if free < self._claim_min:
                self._slot.clear()
                await self._slot.wait()
                continue
            self._wake.clear()
            try:
                claimed = await self._claim(free)
            except Exception:
                log.exception("cannot claim notifications")
                await self._clock.sleep(backoff.next_delay())
                continue
            backoff.reset()
            loop = asyncio.get_running_loop()
            for notification in claimed:
                task = loop.create_task(self._deliver(notification))
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if len(claimed) < free:
                # Nothing more is due: wait for news or for the next poll.
                await first_completed(self._wake.wait(), self._clock.sleep(self._poll_interval))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._concurrency - len(self._inflight) >= self._claim_min:
            self._slot.set()
        if not self._inflight:
            # No other outcome is on its way: store these now rather than wait for a batch.
            self._recorder.flush_soon()

    async def _record(self, attempts: Sequence[NotificationAttempt]) -> None:
        await self._store.record_notification_attempts(attempts, self._clock.now())

    async def _claim(self, limit: int) -> list[Notification]:
        now = self._clock.now()
        return await self._store.claim_notifications(
            limit, self._owner, now, now + timedelta(seconds=self._lease)
        )

    async def _deliver(self, notification: Notification) -> None:
        attempt = notification.attempts + 1
        give_up = attempt >= self._settings.max_attempts
        try:
            status_code, error = await self._attempt(notification)
            detail = error
        except (_NoSecretError, CallbackUrlError) as exc:
            # Nothing a later attempt could change (a name refused now is refused at its next
            # resolution too, short of a DNS change nobody should count on).
            status_code, error, detail, give_up = None, str(exc), str(exc), True
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            refused = refused_destination(exc)
            give_up = give_up or refused is not None
            status_code, error = None, refused or failure_reason(exc)
            # The log says what happened; the stored error (shown to the client) stays short.
            detail = f"{error} ({type(exc).__name__}: {exc})"
        except Exception:
            log.exception("callback %d: attempt failed", notification.id)
            status_code, error, detail = None, "request failed", "request failed"
        delivered = status_code is not None and 200 <= status_code < 300
        self.attempts += 1
        self.delivered += delivered
        next_attempt_at = None
        if not delivered and not give_up:
            delay = self._retry_backoff.delay(attempt - 1)
            next_attempt_at = self._clock.now() + timedelta(seconds=delay)
        if not delivered:
            log.info(
                "callback %d to %s, attempt %d: %s%s",
                notification.id,
                notification.url,
                attempt,
                detail,
                "" if next_attempt_at else "; given up",
            )
        self._recorder.add(
            NotificationAttempt(
                notification_id=notification.id,
                delivered=delivered,
                status_code=status_code,
                error=None if delivered else error,
                next_attempt_at=next_attempt_at,
            )
        )

    async def _attempt(self, notification: Notification) -> tuple[int | None, str | None]:
        """(HTTP status, error text) of one attempt; status None when no answer came.

        Raises :class:`CallbackUrlError` for a URL or destination that will never do, and the
        HTTP client's errors for a failed connection or answer."""
        secret = await self._secret_for(notification.account_id)
        if secret is None:
            raise _NoSecretError(f"account {notification.account_id} has no webhook secret")
        http = self._http
        if http is None:
            raise RuntimeError("the notifier is not started")
        # Stored before these rules, or set by an administrator: checked again here.
        parse_callback_url(notification.url)
        timestamp = int(self._clock.now().timestamp())
        method, url, headers, body = callback_request(notification, secret, timestamp)
        wire = wire_url(url)
        # An address in the URL is connected to as written, without the resolver: check it.
        refusal = destination_refusal(wire, self._policy)
        if refusal is not None:
            raise CallbackUrlError(refusal)
        deadline = self._deadlines.arm()
        try:
            try:
                async with http.request(
                    method,
                    wire,
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    await _read_some(response)
            finally:
                deadline.finished = True
        except asyncio.CancelledError:
            if not self._deadlines.timed_out(deadline):
                raise
            return None, "timed out"
        if 200 <= status < 300:
            return status, None
        # The status code only: the body (or reason phrase) is the receiver's to say, and an
        # internal service's answer must not reach the client who named the URL.
        return status, f"HTTP {status}"


class _NoSecretError(Exception):
    pass


def _new_session(concurrency: int, resolver: GuardedResolver) -> aiohttp.ClientSession:
    """The notifier's own session: up to ``concurrency`` connections, kept alive, to the
    addresses ``resolver`` lets through (names) or the notifier checked (written addresses)."""
    connector = aiohttp.TCPConnector(
        limit=concurrency, keepalive_timeout=_KEEPALIVE, resolver=resolver
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": _USER_AGENT},
        # No aiohttp timeouts: each attempt is bounded as a whole by the notifier's deadlines
        # (the injected clock), and aiohttp's would only add timers to every request.
        timeout=aiohttp.ClientTimeout(),
        # One receiver's cookies must not ride along on later callbacks.
        cookie_jar=aiohttp.DummyCookieJar(),
        # Proxies from the environment (HTTP_PROXY, NO_PROXY...) are honoured as httpx did; only
        # when some are set, since aiohttp then looks them up again for every request.
        trust_env=bool(getproxies()),
    )


async def _read_some(response: aiohttp.ClientResponse) -> bytes:
    """At most 64 KiB of the body, read so that the connection can be used again."""
    content = response.content
    chunks: list[bytes] = []
    size = 0
    while size < _MAX_BODY and not content.at_eof():
        chunk = await content.read(_MAX_BODY - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
