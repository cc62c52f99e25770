"""Analytics over every persona without DISTINCT scans: the days each person wrote (with
their previous such day), each person's span over every persona (rollup_people under
persona '') and indexes that lead with the day.

Both are counted from rollup_activity, which r0014 filled.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_person_days",
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("prev_day", sa.String(10), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_rollup_person_days_person_id_people"
        ),
        sa.PrimaryKeyConstraint("person_id", "day", name="pk_rollup_person_days"),
    )
    op.create_index("ix_rollup_person_days_day", "rollup_person_days", ["day", "prev_day"])
    op.create_index("ix_rollup_daily_day", "rollup_daily", ["day", "metric", "value"])
    from personae.stores.rollups import rebuild_people

    rebuild_people(op.get_bind())


def downgrade() -> None:
    op.execute("DELETE FROM rollup_people WHERE persona_slug = ''")
    op.drop_index("ix_rollup_daily_day", table_name="rollup_daily")
    op.drop_index("ix_rollup_person_days_day", table_name="rollup_person_days")
    op.drop_table("rollup_person_days")
