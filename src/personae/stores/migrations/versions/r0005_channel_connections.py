"""Channel connections added through the admin API or `personae channel add`.

Keyed by channel kind and account (phone_number_id, page_id, account_id or Telegram bot name);
`fields` keeps the entry as given, secrets as `env:NAME` references or literal values.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_connections",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account_key", sa.String(64), nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["persona_slug"],
            ["personas.slug"],
            name="fk_channel_connections_persona_slug_personas",
        ),
        sa.PrimaryKeyConstraint("kind", "account_key", name="pk_channel_connections"),
    )


def downgrade() -> None:
    op.drop_table("channel_connections")
