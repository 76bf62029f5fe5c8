"""The initial schema: accounts, keys, senders, stop list, messages and their pipeline.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written to match ``mesiji.storage.schema`` (a test compares them); migrations never import the
schema module, which keeps describing the newest revision only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE = {"sqlite_autoincrement": True}

# Names are spelled out in full. CHECK names go through op.f(): the naming convention of the
# target metadata would otherwise prefix them a second time ("ck_accounts_ck_accounts_...").


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def _stamp(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts"
    )


def upgrade() -> None:
    op.create_table(
        "accounts",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("website", sa.Text(), nullable=True),
        sa.Column("contact_email", sa.Text(), nullable=True),
        sa.Column("contact_phone", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default="active"),
        sa.Column("balance", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("price_per_segment", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("allowed_regions", sa.Text(), nullable=False, server_default="GE"),
        sa.Column("api_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        _stamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f("ck_accounts_status")),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_accounts_balance_not_negative")),
        sa.CheckConstraint("price_per_segment >= 0", name=op.f("ck_accounts_price_not_negative")),
        **_SQLITE,
    )
    op.create_table(
        "api_keys",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        _stamp("created_at"),
        _stamp("revoked_at", nullable=True),
        _stamp("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        _account_fk("api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        **_SQLITE,
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    op.create_table(
        "senders",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_senders"),
        _account_fk("senders"),
        sa.UniqueConstraint("account_id", "name", name="uq_senders_account_id_name"),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'pending', 'refused')", name=op.f("ck_senders_status")
        ),
        **_SQLITE,
    )
    op.create_table(
        "stop_list",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        _stamp("created_at"),
        sa.PrimaryKeyConstraint("account_id", "number", name="pk_stop_list"),
        _account_fk("stop_list"),
    )
    _create_messages()
    _create_pipeline()
    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=True),
        sa.Column("message_ids", sa.Text(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        _stamp("created_at"),
        sa.PrimaryKeyConstraint("account_id", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_idempotency_keys_account_id_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "balance_ledger",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        _stamp("at"),
        sa.PrimaryKeyConstraint("id", name="pk_balance_ledger"),
        _account_fk("balance_ledger"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_balance_ledger_message_id_messages",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("delta <> 0", name=op.f("ck_balance_ledger_delta_not_zero")),
        **_SQLITE,
    )
    op.create_index("ix_balance_ledger_account_id_id", "balance_ledger", ["account_id", "id"])
    op.create_index("ix_balance_ledger_message_id", "balance_ledger", ["message_id"])


def _create_messages() -> None:
    op.create_table(
        "messages",
        _id(),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("operator", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("alphabet", sa.Text(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("callback_url", sa.Text(), nullable=True),
        _stamp("send_at", nullable=True),
        _stamp("valid_until", nullable=True),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        _account_fk("messages"),
        **_SQLITE,
    )
    op.create_index(
        "ix_messages_account_id_created_at_id", "messages", ["account_id", "created_at", "id"]
    )
    op.create_index("ix_messages_account_id_reference", "messages", ["account_id", "reference"])


def _create_pipeline() -> None:
    op.create_table(
        "parts",
        _id(),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("seqnum", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("smsc_message_id", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        _stamp("lease_until", nullable=True),
        _stamp("submitted_at", nullable=True),
        _stamp("done_at", nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_parts"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_parts_message_id_messages", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("message_id", "seqnum", name="uq_parts_message_id_seqnum"),
        **_SQLITE,
    )
    op.create_index("ix_parts_status_lease_until", "parts", ["status", "lease_until"])
    op.create_index("ix_parts_channel_status_id", "parts", ["channel", "status", "id"])
    op.create_index("ix_parts_channel_smsc_message_id", "parts", ["channel", "smsc_message_id"])
    op.create_table(
        "message_events",
        _id(),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("part_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _stamp("at"),
        sa.PrimaryKeyConstraint("id", name="pk_message_events"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_message_events_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name="fk_message_events_part_id_parts", ondelete="CASCADE"
        ),
        **_SQLITE,
    )
    op.create_index("ix_message_events_message_id_id", "message_events", ["message_id", "id"])
    op.create_index("ix_message_events_part_id", "message_events", ["part_id"])
    op.create_table(
        "receipts",
        _id(),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("smsc_message_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("err", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        _stamp("received_at"),
        sa.Column("matched_part_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_receipts"),
        sa.ForeignKeyConstraint(
            ["matched_part_id"],
            ["parts.id"],
            name="fk_receipts_matched_part_id_parts",
            ondelete="SET NULL",
        ),
        **_SQLITE,
    )
    op.create_index(
        "ix_receipts_channel_smsc_message_id", "receipts", ["channel", "smsc_message_id"]
    )
    op.create_index("ix_receipts_matched_part_id", "receipts", ["matched_part_id"])
    op.create_table(
        "notifications",
        _id(),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        _stamp("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_notifications_message_id_messages",
            ondelete="CASCADE",
        ),
        _account_fk("notifications"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name=op.f("ck_notifications_status")
        ),
        **_SQLITE,
    )
    op.create_index(
        "ix_notifications_status_next_attempt_at", "notifications", ["status", "next_attempt_at"]
    )
    op.create_index("ix_notifications_message_id", "notifications", ["message_id"])


def downgrade() -> None:
    for table in (
        "balance_ledger",
        "idempotency_keys",
        "notifications",
        "receipts",
        "message_events",
        "parts",
        "messages",
        "stop_list",
        "senders",
        "api_keys",
        "accounts",
    ):
        # Dropping a table drops its indexes and constraints with it.
        op.drop_table(table)
