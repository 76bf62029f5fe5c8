"""The gateway's tables, as SQLAlchemy Core metadata shared by SQLite and PostgreSQL.

``migrations/versions`` must build exactly this schema; a test compares the two. Status columns
whose values belong to the storage layer (accounts, senders, notifications) carry a CHECK;
message and part statuses belong to :mod:`mesiji.domain` and are plain text, so the domain
can grow its life cycle without a migration.

Surrogate keys use ``sqlite_autoincrement`` so SQLite never hands out an id again after the
newest row is deleted: ids leave the gateway (message ids in API answers and callbacks).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)

from mesiji.storage.types import ID, UtcDateTime

__all__ = [
    "NAMING_CONVENTION",
    "accounts",
    "api_keys",
    "balance_ledger",
    "idempotency_keys",
    "message_events",
    "messages",
    "metadata",
    "notifications",
    "parts",
    "receipts",
    "senders",
    "stop_list",
]

#: Deterministic constraint names, so migrations can refer to (and drop) them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _account_id() -> Column[int]:
    return Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False)


def _stamp(name: str, *, nullable: bool = False) -> Column[datetime]:
    return Column(name, UtcDateTime, nullable=nullable)


accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("website", Text),
    Column("contact_email", Text),
    Column("contact_phone", Text),
    Column("status", Text, nullable=False, server_default="active"),
    # SMS credits; a message costs segments * price_per_segment.
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("price_per_segment", Integer, nullable=False, server_default="1"),
    # ISO 3166 region codes the account may send to, comma-separated.
    Column("allowed_regions", Text, nullable=False, server_default="GE"),
    Column("api_enabled", Boolean, nullable=False, server_default=true()),
    Column("webhook_secret", Text, nullable=False),
    # smsoffice.ge-style delivery callback for the whole account; a message's own URL wins.
    Column("callback_url", Text),
    _stamp("created_at"),
    # Send requests a second the account may make; NULL: the gateway's default, 0: no limit.
    Column("send_rate", Integer),
    CheckConstraint("status IN ('active', 'suspended')", name="status"),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
    CheckConstraint("price_per_segment >= 0", name="price_not_negative"),
    sqlite_autoincrement=True,
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    _account_id(),
    # Only a hash is kept: a stolen database must not yield usable keys.
    Column("key_hash", Text, nullable=False),
    # The first characters of the key, shown so owners can tell their keys apart.
    Column("prefix", Text, nullable=False),
    Column("label", Text, nullable=False),
    _stamp("created_at"),
    _stamp("revoked_at", nullable=True),
    _stamp("last_used_at", nullable=True),
    UniqueConstraint("key_hash"),
    Index("ix_api_keys_account_id", "account_id"),
    sqlite_autoincrement=True,
)

senders = Table(
    "senders",
    metadata,
    Column("id", ID, primary_key=True),
    _account_id(),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    _stamp("created_at"),
    _stamp("updated_at"),
    UniqueConstraint("account_id", "name"),
    CheckConstraint("status IN ('active', 'inactive', 'pending', 'refused')", name="status"),
    sqlite_autoincrement=True,
)

stop_list = Table(
    "stop_list",
    metadata,
    _account_id(),
    # E.164 digits without "+", as mesiji.domain.numbers normalises them.
    Column("number", Text, nullable=False),
    _stamp("created_at"),
    PrimaryKeyConstraint("account_id", "number"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    _account_id(),
    # The client's own id for the message (smsoffice.ge "reference").
    Column("reference", Text),
    Column("sender", Text, nullable=False),
    Column("destination", Text, nullable=False),
    Column("operator", Text),
    Column("channel", Text),
    Column("body", Text, nullable=False),
    Column("alphabet", Text, nullable=False),
    Column("segments", Integer, nullable=False),
    Column("credits", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_code", Text),
    Column("urgent", Boolean, nullable=False, server_default=false()),
    Column("callback_url", Text),
    _stamp("send_at", nullable=True),
    _stamp("valid_until", nullable=True),
    _stamp("created_at"),
    _stamp("updated_at"),
    # Listing an account's messages newest first, paged by (created_at, id).
    Index("ix_messages_account_id_created_at_id", "account_id", "created_at", "id"),
    Index("ix_messages_account_id_reference", "account_id", "reference"),
    sqlite_autoincrement=True,
)

parts = Table(
    "parts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("seqnum", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("channel", Text),
    Column("status", Text, nullable=False),
    # The SMSC's id from submit_sm_resp, in canonical form (see mesiji.smpp.receipts).
    Column("smsc_message_id", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # A dispatcher owns a part until lease_until; after that any node may claim it again.
    Column("lease_owner", Text),
    _stamp("lease_until", nullable=True),
    _stamp("submitted_at", nullable=True),
    _stamp("done_at", nullable=True),
    Column("error_code", Text),
    UniqueConstraint("message_id", "seqnum"),
    Index("ix_parts_status_lease_until", "status", "lease_until"),
    # Claiming: a channel's queued (or lease-expired) parts in id order, read off the index.
    Index("ix_parts_channel_status_id", "channel", "status", "id"),
    Index("ix_parts_channel_smsc_message_id", "channel", "smsc_message_id"),
    sqlite_autoincrement=True,
)

message_events = Table(
    "message_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("part_id", BigInteger, ForeignKey("parts.id", ondelete="CASCADE")),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    _stamp("at"),
    Index("ix_message_events_message_id_id", "message_id", "id"),
    # Foreign keys need an index on the referring side, or deleting a part scans the table.
    Index("ix_message_events_part_id", "part_id"),
    sqlite_autoincrement=True,
)

receipts = Table(
    "receipts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("smsc_message_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("err", Text),
    Column("raw", Text, nullable=False),
    _stamp("received_at"),
    # NULL until a part with this smsc_message_id is known: receipts may beat submit_sm_resp.
    Column("matched_part_id", BigInteger, ForeignKey("parts.id", ondelete="SET NULL")),
    Index("ix_receipts_channel_smsc_message_id", "channel", "smsc_message_id"),
    Index("ix_receipts_matched_part_id", "matched_part_id"),
    sqlite_autoincrement=True,
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="CASCADE")),
    _account_id(),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    _stamp("next_attempt_at"),
    Column("last_error", Text),
    Column("last_status_code", Integer),
    _stamp("created_at"),
    _stamp("updated_at"),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_notifications_message_id", "message_id"),
    sqlite_autoincrement=True,
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    # The client's Idempotency-Key header; keys belong to an account.
    Column("key", Text, nullable=False),
    # The fingerprint of the request first made with the key; another request is refused.
    Column("request_hash", Text),
    # What the first request returned, replayed to its retries: a JSON array of message ids
    # in the order of the request, and the balance after its reservation.
    Column("message_ids", Text, nullable=False),
    Column("balance", BigInteger, nullable=False),
    _stamp("created_at"),
    PrimaryKeyConstraint("account_id", "key"),
)

balance_ledger = Table(
    "balance_ledger",
    metadata,
    Column("id", ID, primary_key=True),
    _account_id(),
    Column("delta", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    # Kept when old messages are purged: the ledger is the account's financial history.
    Column("message_id", BigInteger, ForeignKey("messages.id", ondelete="SET NULL")),
    _stamp("at"),
    CheckConstraint("delta <> 0", name="delta_not_zero"),
    Index("ix_balance_ledger_account_id_id", "account_id", "id"),
    Index("ix_balance_ledger_message_id", "message_id"),
    sqlite_autoincrement=True,
)
