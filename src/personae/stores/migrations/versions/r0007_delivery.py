"""Delivery state on outbox rows: when each part was sent, delivered and read, the platform's
error code, and the recipient (Messenger receipts name a chat and a time, not a message).

The outbox ``status`` gains "sending" (marked before the HTTP call); ``delivery_status`` is what
the platform reported afterwards (sent, delivered, read, failed).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("recipient", sa.String(255), nullable=True))
        batch.add_column(sa.Column("error_code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("delivery_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_platform_message_id", "outbox", ["platform_message_id"])
    op.create_index("ix_outbox_conversation_id", "outbox", ["conversation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_conversation_id", "outbox")
    op.drop_index("ix_outbox_platform_message_id", "outbox")
    with op.batch_alter_table("outbox") as batch:
        for name in ("read_at", "delivered_at", "sent_at", "delivery_status", "error_code"):
            batch.drop_column(name)
        batch.drop_column("recipient")
