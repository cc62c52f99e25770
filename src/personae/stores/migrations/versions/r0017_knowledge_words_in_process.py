"""Knowledge chunks' full-text search moves into the process too (stores/postings.py, as
r0016 did for memories): SQLite's FTS5 table (a second copy of every chunk's text) and
PostgreSQL's expression index are dropped.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS knowledge_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_knowledge_fts")


def downgrade() -> None:
    # r0011's objects again; SQLite's table refilled from the chunks as it was written.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_fts USING fts5(text, tokenize='porter unicode61')"
        )
        op.execute(
            "INSERT INTO knowledge_fts(rowid, text) "
            "SELECT id, trim(heading || char(10) || text) FROM knowledge_chunks"
        )
    else:
        op.execute(
            "CREATE INDEX ix_knowledge_fts ON knowledge_chunks "
            "USING GIN (to_tsvector('english', text))"
        )
