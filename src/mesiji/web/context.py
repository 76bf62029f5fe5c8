"""What the HTTP handlers need, handed to them by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from mesiji.clock import Clock
from mesiji.domain.keys import hash_api_key
from mesiji.services.accept import AcceptService
from mesiji.services.errors import ErrorCode, RequestError
from mesiji.storage import errors as storage_errors
from mesiji.storage.message_ports import MessageStore
from mesiji.storage.ports import AccountStore
from mesiji.storage.records import Account


@dataclass(frozen=True, slots=True)
class WebContext:
    accounts: AccountStore
    messages: MessageStore
    accept: AcceptService
    clock: Clock
    #: Destinations one request may carry.
    max_recipients: int = 1000

    async def authenticate(self, key: str | None) -> Account:
        """The account of API key ``key``; :class:`RequestError` when there is none."""
        if not key:
            raise RequestError(ErrorCode.key_missing, "an API key is required")
        try:
            account = await self.accounts.authenticate(hash_api_key(key.strip()))
        except storage_errors.StorageUnavailable as exc:
            raise RequestError(ErrorCode.unavailable, "storage is unavailable; retry") from exc
        if account is None:
            raise RequestError(ErrorCode.unauthorized, "unknown, revoked or suspended API key")
        return account
