"""What the HTTP handlers need, handed to them by the composition root."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mesiji.clock import Clock
from mesiji.domain.keys import hash_api_key
from mesiji.domain.numbers import (
    NumberError,
    RejectedNumber,
    parse_destination,
    parse_destinations,
)
from mesiji.services.accept import AcceptService
from mesiji.services.cancel import CancelService
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.services.lookups import AccountLookups
from mesiji.services.rate_limits import SendRateLimiter
from mesiji.storage.message_ports import MessageStore
from mesiji.storage.ports import AccountStore
from mesiji.storage.records import Account


@dataclass(frozen=True, slots=True)
class WebContext:
    accounts: AccountStore
    #: Cached reads of keys, senders and stop lists (shared with ``accept``).
    lookups: AccountLookups
    messages: MessageStore
    accept: AcceptService
    clock: Clock
    #: Destinations one request may carry.
    max_recipients: int = 1000
    #: Region of national numbers (ISO 3166 code).
    default_region: str = "GE"
    #: Cancels messages not yet claimed; None: cancelling is not offered.
    cancel: CancelService | None = None
    #: Each account's limit on send requests; None: no limit.
    send_limits: SendRateLimiter | None = None

    async def authenticate(self, key: str | None) -> Account:
        """The account of API key ``key``; :class:`RequestError` when there is none.

        A storage failure escapes as :class:`~mesiji.storage.errors.StorageUnavailable`: each
        API answers it in its own form (503 on /v1, -100 in smsoffice.ge's envelope).
        """
        if not key:
            raise RequestError(ErrorCode.key_missing, "an API key is required")
        account = await self.lookups.authenticate(hash_api_key(key.strip()))
        if account is None:
            raise RequestError(ErrorCode.unauthorized, "unknown, revoked or suspended API key")
        return account

    def admit_send(self, account: Account) -> None:
        """Count a send request of ``account`` against its rate; :class:`RequestError`
        ``too_many_requests`` (with ``retry_after``) when it is over."""
        if self.send_limits is not None:
            self.send_limits.admit(account)

    async def balance(self, account: Account) -> int:
        """The account's balance now (the authenticated ``account`` may be seconds old)."""
        fresh = await self.accounts.get_account(account.id)
        if fresh is None:
            raise RequestError(ErrorCode.unauthorized, "the account no longer exists")
        return fresh.balance

    def parse_number(self, account: Account, raw: str) -> str:
        """``raw`` as E.164 without "+"; raises :class:`~mesiji.domain.numbers.NumberError`."""
        return parse_destination(
            raw,
            allowed_regions=frozenset(account.allowed_regions),
            default_region=self.default_region,
        ).e164

    def number_filter(self, account: Account, raw: str | None) -> str | None:
        """The stored number to filter on, from any form a send accepts, or None for no filter.

        ``599123456`` and ``+995 599 12 34 56`` both become ``995599123456``; what is not a
        number is kept as written (without a leading "+"), so it matches no message.
        """
        if not raw or not raw.strip():
            return None
        try:
            return self.parse_number(account, raw)
        except NumberError:
            return raw.strip().removeprefix("+")

    def parse_numbers(
        self, account: Account, raws: Iterable[str]
    ) -> tuple[list[str], list[RejectedNumber]]:
        """Each distinct number of ``raws`` as E.164 without "+", and every entry refused."""
        destinations, rejected = parse_destinations(
            raws,
            allowed_regions=frozenset(account.allowed_regions),
            default_region=self.default_region,
        )
        return [d.e164 for d in destinations], rejected
