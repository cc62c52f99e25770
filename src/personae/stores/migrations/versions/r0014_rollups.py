"""Analytics rollups: counts per persona and day, activity per conversation and day, and
each person's first and last day with a persona.

Written from now on in the transaction of each message and turn; existing messages and
turns are counted in once here, so analytics stops reading every message.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_daily",
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("persona_slug", "day", "metric", name="pk_rollup_daily"),
    )
    op.create_table(
        "rollup_activity",
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_rollup_activity_conversation_id_conversations",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "day", name="pk_rollup_activity"),
    )
    op.create_index(
        "ix_rollup_activity_persona_day",
        "rollup_activity",
        ["persona_slug", "day", "messages", "person_id", "conversation_id"],
    )
    op.create_table(
        "rollup_people",
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("first_day", sa.String(10), nullable=False),
        sa.Column("last_day", sa.String(10), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_rollup_people_person_id_people"
        ),
        sa.PrimaryKeyConstraint("persona_slug", "person_id", name="pk_rollup_people"),
    )
    # The same counting the write path does (one code path, so the two cannot disagree).
    from personae.stores.rollups import rebuild

    rebuild(op.get_bind(), person_days=False)


def downgrade() -> None:
    op.drop_table("rollup_people")
    op.drop_index("ix_rollup_activity_persona_day", table_name="rollup_activity")
    op.drop_table("rollup_activity")
    op.drop_table("rollup_daily")
