"""What channels report besides messages: media files, reactions, echoes and deletions.

`attachments`: a person's media, fetched after accept and stored by content hash under the
data folder (status ok, refused or failed). `channel_events`: reactions and echoes of our own
sends, kept for the record (they start no turn). `messages.deleted_at`: the person deleted it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("original_ref", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_attachments_message_id_messages"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        sa.UniqueConstraint("message_id", "position", name="uq_attachments_message_id"),
    )
    op.create_table(
        "channel_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("platform_message_id", sa.String(255), nullable=False),
        sa.Column("peer_id", sa.String(255), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channel_events"),
    )
    op.create_index(
        "ix_channel_events_message", "channel_events", ["channel", "platform_message_id"]
    )
    # A plain ADD COLUMN on both backends: a batch copy of `messages` would trip its keys.
    op.add_column("messages", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE messages DROP COLUMN deleted_at")  # SQLite 3.35+ and PostgreSQL
    op.drop_index("ix_channel_events_message", "channel_events")
    op.drop_table("channel_events")
    op.drop_table("attachments")
