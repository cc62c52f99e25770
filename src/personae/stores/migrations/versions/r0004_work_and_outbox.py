"""The work a turn leaves between accept and process, and the outbox of channel replies.

``work``: one row per job (kind "turn" today), unique per (kind, message), so a redelivered
message never records a second job; pending work resumes after a restart. ``outbox``: replies
waiting to be sent to a messaging channel, written in the reply's own transaction.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", _ts(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "work",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        *_common(),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_work"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_work_conversation_id_conversations"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_work_message_id_messages"
        ),
        sa.UniqueConstraint("kind", "message_id", name="uq_work_kind"),
    )
    op.create_index("ix_work_status_available", "work", ["status", "available_at"])
    op.create_table(
        "outbox",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        *_common(),
        sa.Column("platform_message_id", sa.String(255), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_outbox_conversation_id_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_outbox_message_id_messages"
        ),
    )
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"])
    op.create_index("ix_outbox_status_available", "outbox", ["status", "available_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("work")
