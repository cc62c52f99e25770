"""Memory: what a persona remembers about a person, and each person's memory settings.

Lexical search over ``memories.text``: an FTS5 table keyed by the memory id on SQLite (kept
in step by the store, in the same transaction), a GIN full-text index on PostgreSQL.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("key", sa.String(128), nullable=True),
        sa.Column("importance", sa.Float(), nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("said_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refers_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by", Id, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["persona_slug"], ["personas.slug"], name="fk_memories_persona_slug_personas"
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_memories_person_id_people"),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_memories_message_id_messages",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_memories"),
    )
    op.create_index("ix_memories_owner", "memories", ["person_id", "persona_slug", "id"])
    op.create_index("ix_memories_persona_scope", "memories", ["persona_slug", "scope"])
    op.create_table(
        "memory_settings",
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("share", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_memory_settings_person_id_people"
        ),
        sa.ForeignKeyConstraint(
            ["persona_slug"], ["personas.slug"], name="fk_memory_settings_persona_slug_personas"
        ),
        sa.PrimaryKeyConstraint("person_id", "persona_slug", name="pk_memory_settings"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE memories_fts USING fts5(text, tokenize='porter unicode61')"
        )
    else:
        op.execute(
            "CREATE INDEX ix_memories_fts ON memories USING GIN (to_tsvector('english', text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE memories_fts")
    else:
        op.execute("DROP INDEX ix_memories_fts")
    op.drop_table("memory_settings")
    op.drop_index("ix_memories_persona_scope", "memories")
    op.drop_index("ix_memories_owner", "memories")
    op.drop_table("memories")
