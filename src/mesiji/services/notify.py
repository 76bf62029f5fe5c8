"""Notify: deliver the callbacks of the notification outbox, signed, retried with backoff.

Each status change writes a notification row in the same transaction (see
:mod:`mesiji.storage.message_ports`); the notifier claims due rows, sends them and records
every attempt. A callback is a POST of the stored JSON with::

    Content-Type: application/json
    Mesiji-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>

keyed with the account's webhook secret (:mod:`mesiji.domain.keys`). Any 2xx answer is a
delivery (smsoffice.ge-style receivers answer 200 with the body "OK"); anything else, or no
answer within ``timeout``, is tried again after an exponential backoff until ``max_attempts``.

smsoffice.ge-compatible account callbacks are GET requests: a payload of the form
``{"method": "GET", "query": {...}}`` is sent as a GET with those parameters appended to the
URL's own query string. Its signature then covers the whole query string sent, in place of a
body.

Delivery is at least once: a callback whose attempt was not recorded (the gateway stopped, the
database failed) is sent again after its lease, so receivers should be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from mesiji.clock import Clock, first_completed
from mesiji.domain.keys import SIGNATURE_HEADER, webhook_signature_header
from mesiji.pacing import Backoff
from mesiji.settings import WebhookSettings
from mesiji.storage.message_ports import MessageStore, Notification

__all__ = ["Notifier", "SecretLookup", "callback_request"]

log = logging.getLogger(__name__)

#: The webhook secret of an account, or None when the account does not exist.
SecretLookup = Callable[[int], Awaitable[str | None]]

_USER_AGENT = "Mesiji"
# Enough of an error page to say what went wrong; the rest is not read.
_MAX_BODY = 64 * 1024
_MAX_ERROR = 300


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

    ``secret_for`` gives an account's webhook secret. ``http`` is the client to send with
    (one shared client keeps connections alive); by default the notifier makes its own and
    closes it in :meth:`stop`. ``poll_interval`` is how often, in seconds of ``clock``, due
    notifications are looked for when nobody called :meth:`notify` (retries fall due that
    way). A claimed notification is nobody else's for ``lease_seconds``.
    """

    def __init__(
        self,
        store: MessageStore,
        settings: WebhookSettings,
        *,
        secret_for: SecretLookup,
        clock: Clock,
        owner: str,
        http: httpx.AsyncClient | None = None,
        concurrency: int = 20,
        poll_interval: float = 1.0,
        lease_seconds: float | None = None,
        stop_timeout: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1 or settings.max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be at least 1")
        self._store = store
        self._settings = settings
        self._secret_for = secret_for
        self._clock = clock
        self._owner = owner
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=settings.timeout,
            headers={"User-Agent": _USER_AGENT},
            limits=httpx.Limits(max_connections=concurrency),
        )
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._lease = (
            lease_seconds if lease_seconds is not None else max(60.0, 4 * settings.timeout)
        )
        self._stop_timeout = stop_timeout
        self._rng = rng or random.Random()
        self._inflight: set[asyncio.Task[None]] = set()
        self._slot = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        #: Attempts made, and how many were deliveries.
        self.attempts = 0
        self.delivered = 0

    def start(self) -> None:
        """Start delivering in the background."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run())

    def notify(self) -> None:
        """Notifications were written: look for due ones now."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, let the attempts under way finish (bounded), close the client."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        pending = list(self._inflight)
        if pending:
            everything = asyncio.gather(*pending, return_exceptions=True)
            await first_completed(asyncio.shield(everything), self._clock.sleep(self._stop_timeout))
            for task in pending:
                task.cancel()
            await everything
        if self._own_http:
            await self._http.aclose()

    async def _run(self) -> None:
        backoff = Backoff(0.1, 10.0, rng=self._rng)
        while True:
            free = self._concurrency - len(self._inflight)
            if free <= 0:
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
            for notification in claimed:
                task = asyncio.get_running_loop().create_task(self._deliver(notification))
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if len(claimed) < free:
                await first_completed(self._wake.wait(), self._clock.sleep(self._poll_interval))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._slot.set()

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
        except _NoSecretError as exc:
            status_code, error, give_up = None, str(exc), True
        except Exception as exc:
            log.exception("callback %d: attempt failed", notification.id)
            status_code, error = None, f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
        delivered = status_code is not None and 200 <= status_code < 300
        self.attempts += 1
        self.delivered += delivered
        now = self._clock.now()
        next_attempt_at = None
        if not delivered and not give_up:
            next_attempt_at = now + timedelta(seconds=self._retry_delay(attempt))
        if not delivered:
            log.info(
                "callback %d to %s, attempt %d: %s%s",
                notification.id,
                notification.url,
                attempt,
                error,
                "" if next_attempt_at else "; given up",
            )
        try:
            await self._store.record_notification_attempt(
                notification.id,
                delivered=delivered,
                status_code=status_code,
                error=None if delivered else error,
                next_attempt_at=next_attempt_at,
                now=now,
            )
        except Exception:
            log.exception("cannot record callback %d; it is sent again later", notification.id)

    async def _attempt(self, notification: Notification) -> tuple[int | None, str | None]:
        """(HTTP status, error text) of one attempt; status None when no answer came."""
        secret = await self._secret_for(notification.account_id)
        if secret is None:
            raise _NoSecretError(f"account {notification.account_id} has no webhook secret")
        timestamp = int(self._clock.now().timestamp())
        method, url, headers, body = callback_request(notification, secret, timestamp)
        try:
            # The client's timeout bounds each network step; this bounds the whole attempt.
            async with asyncio.timeout(self._settings.timeout):
                request = self._http.build_request(method, url, headers=headers, content=body)
                response = await self._http.send(request, stream=True)
                try:
                    text = await _read_some(response)
                finally:
                    await response.aclose()
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            return None, (f"{type(exc).__name__}: {exc}".rstrip(": "))[:_MAX_ERROR]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}: {text}"[:_MAX_ERROR]

    def _retry_delay(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1``: the ``attempt``-th backoff delay."""
        backoff = Backoff(self._settings.backoff_initial, self._settings.backoff_max, rng=self._rng)
        delay = 0.0
        for _ in range(attempt):
            delay = backoff.next_delay()
        return delay


class _NoSecretError(Exception):
    pass


async def _read_some(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _MAX_BODY:
            break
    return b"".join(chunks).decode("utf-8", errors="replace").strip()
