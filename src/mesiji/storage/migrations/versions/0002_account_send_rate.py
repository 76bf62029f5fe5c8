"""An account's own limit on send requests a second (``accounts.send_rate``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05

NULL, as every existing account gets, means the gateway's default (``[limits]
send_requests_per_second``); 0 means no limit for this account.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: SQLite adds it in place, no table rebuild.
    op.add_column("accounts", sa.Column("send_rate", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("send_rate")
