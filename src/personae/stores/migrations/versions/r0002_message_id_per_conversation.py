"""A sender's message id is unique per conversation, no longer per channel.

Under the old key a second person who sent the same ``external_id`` on the same channel was
handed the first person's stored reply. Existing rows satisfy the new key already (it is
narrower), so the upgrade only swaps the constraint. A downgrade fails if two conversations
now share an id on one channel: it cannot choose which message to drop.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite changes a constraint by copying the table (PostgreSQL alters in place);
    # migrate.py turns SQLite's foreign keys off around it, as that copy requires.
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_channel", type_="unique")
        batch.create_unique_constraint(
            "uq_messages_conversation_id", ["conversation_id", "external_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("uq_messages_conversation_id", type_="unique")
        batch.create_unique_constraint("uq_messages_channel", ["channel", "external_id"])
