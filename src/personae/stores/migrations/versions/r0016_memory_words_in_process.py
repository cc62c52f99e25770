"""Memories' full-text search moves into the process (stores/postings.py): SQLite's FTS5
table, which kept a second copy of every memory's text, and PostgreSQL's expression index
are dropped. Recall builds its index from the rows it already reads for their vectors.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS memories_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_memories_fts")


def downgrade() -> None:
    # r0010's objects again; SQLite's table refilled from the rows (without the message
    # before each episode, which it held too and the rows do not keep).
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE memories_fts USING fts5(text, tokenize='porter unicode61')"
        )
        op.execute("INSERT INTO memories_fts(rowid, text) SELECT id, text FROM memories")
    else:
        op.execute(
            "CREATE INDEX ix_memories_fts ON memories USING GIN (to_tsvector('english', text))"
        )
