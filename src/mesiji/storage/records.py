"""What the stores take and return: frozen records, detached from any database row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["Account", "AccountStatus", "ApiKey", "NewAccount", "Sender", "SenderStatus"]


class AccountStatus(StrEnum):
    """Whether an account may use the gateway at all."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class SenderStatus(StrEnum):
    """Where a sender name stands with the mobile operators.

    Only ``active`` senders may send; ``pending`` waits for the operators' authorization
    (two to three days), ``refused`` was turned down, ``inactive`` is kept but not usable.
    """

    ACTIVE = "active"
    INACTIVE = "inactive"
    PENDING = "pending"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class NewAccount:
    """An account to create. A ``webhook_secret`` of None gets a fresh random secret.

    ``opening_balance`` credits are given with the account, in the same transaction.
    """

    name: str
    website: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    price_per_segment: int = 1
    allowed_regions: tuple[str, ...] = ("GE",)
    api_enabled: bool = True
    webhook_secret: str | None = field(default=None, repr=False)
    callback_url: str | None = None
    #: Send requests a second; None: the gateway's default, 0: no limit.
    send_rate: int | None = None
    opening_balance: int = 0


@dataclass(frozen=True, slots=True)
class Account:
    """A customer of the gateway. ``balance`` is in SMS credits."""

    id: int
    name: str
    website: str | None
    contact_email: str | None
    contact_phone: str | None
    status: AccountStatus
    balance: int
    price_per_segment: int
    allowed_regions: tuple[str, ...]
    api_enabled: bool
    webhook_secret: str = field(repr=False)
    callback_url: str | None
    created_at: datetime
    #: Send requests a second this account may make; None: the gateway's default
    #: (``[limits] send_requests_per_second``), 0: no limit.
    send_rate: int | None = None

    @property
    def active(self) -> bool:
        """True when the account is not suspended."""
        return self.status is AccountStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: the key itself is never kept, only its hash (not exposed here)."""

    id: int
    account_id: int
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def revoked(self) -> bool:
        """True once the key has been revoked; revoked keys never authenticate again."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class Sender:
    """A sender name (alphanumeric originator) of an account, and its authorization status."""

    id: int
    account_id: int
    name: str
    status: SenderStatus
    created_at: datetime
    updated_at: datetime
