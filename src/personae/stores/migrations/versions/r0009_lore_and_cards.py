"""Lorebook timers per conversation (sticky, cooldown) and the Character Cards personas were
imported from (the original JSON, its PNG image, its CHARX assets), for lossless export.

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lore_timers",
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("entry", sa.String(255), nullable=False),
        sa.Column("activated_at", sa.Integer(), nullable=False),
        sa.Column("sticky_end", sa.Integer(), nullable=False),
        sa.Column("cooldown_end", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_lore_timers_conversation_id_conversations",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "entry", name="pk_lore_timers"),
    )
    op.create_table(
        "persona_cards",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("card", sa.Text(), nullable=False),
        sa.Column("imported", sa.Text(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["slug"], ["personas.slug"], name="fk_persona_cards_slug_personas"),
        sa.PrimaryKeyConstraint("slug", name="pk_persona_cards"),
    )
    op.create_table(
        "persona_card_assets",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["slug"], ["personas.slug"], name="fk_persona_card_assets_slug_personas"
        ),
        sa.PrimaryKeyConstraint("slug", "path", name="pk_persona_card_assets"),
    )


def downgrade() -> None:
    op.drop_table("persona_card_assets")
    op.drop_table("persona_cards")
    op.drop_table("lore_timers")
