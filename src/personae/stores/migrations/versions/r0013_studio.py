"""Studio: the published revision of each persona, turn figures for analytics, ratings.

Existing personas keep serving their current revision (published_revision = current); the
turn figures of existing turns are copied out of their traces once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BATCH = 500


def upgrade() -> None:
    op.add_column("personas", sa.Column("published_revision", sa.Integer(), nullable=True))
    op.execute("UPDATE personas SET published_revision = current_revision")
    op.add_column("turns", sa.Column("latency_ms", sa.Float(), nullable=True))
    op.add_column("turns", sa.Column("ttft_ms", sa.Float(), nullable=True))
    op.add_column("turns", sa.Column("tokens", sa.Integer(), nullable=True))
    op.add_column("turns", sa.Column("categories", sa.String(255), nullable=True))
    op.create_index("ix_turns_created_at", "turns", ["created_at"])
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_table(
        "ratings",
        sa.Column("message_id", Id, nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_ratings_message_id_messages"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_ratings_conversation_id_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["persona_slug"], ["personas.slug"], name="fk_ratings_persona_slug_personas"
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_ratings"),
    )
    op.create_index("ix_ratings_persona_created", "ratings", ["persona_slug", "created_at"])
    _backfill_turns()


def _backfill_turns() -> None:
    conn = op.get_bind()
    turns = sa.table(
        "turns",
        sa.column("id", Id),
        sa.column("trace", sa.Text()),
        sa.column("latency_ms", sa.Float()),
        sa.column("ttft_ms", sa.Float()),
        sa.column("tokens", sa.Integer()),
        sa.column("categories", sa.String(255)),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(turns.c.id, turns.c.trace)
            .where(turns.c.id > last, turns.c.trace.is_not(None))
            .order_by(turns.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            figures = _figures(row.trace)
            if figures:
                conn.execute(sa.update(turns).where(turns.c.id == row.id).values(**figures))
        last = rows[-1].id


def _figures(text: str) -> dict[str, object]:
    """The same figures stores.messages.turn_figures takes from a Trace, from its JSON."""
    try:
        data = json.loads(text)
        timings, usage = data["timings"], data["usage"]
        codes = sorted(
            {c for v in data.get("verdicts", ()) if not v.get("allowed", True)
             for c in v.get("categories", ())}
        )  # fmt: skip
        return {
            "latency_ms": timings["done_ms"],
            "ttft_ms": timings.get("first_token_ms"),
            "tokens": usage["prompt_tokens"] + usage["completion_tokens"],
            "categories": ",".join(codes)[:255] or None,
        }
    except (ValueError, KeyError, TypeError):
        return {}


def downgrade() -> None:
    op.drop_index("ix_ratings_persona_created", table_name="ratings")
    op.drop_table("ratings")
    op.drop_index("ix_messages_created_at", table_name="messages")
    op.drop_index("ix_turns_created_at", table_name="turns")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of `personas` would
    # trip the foreign keys that point at it.
    for column in ("categories", "tokens", "ttft_ms", "latency_ms"):
        op.drop_column("turns", column)
    op.drop_column("personas", "published_revision")
