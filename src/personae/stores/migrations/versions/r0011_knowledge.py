"""Knowledge bases: documents uploaded for a persona and the chunks recalled from them.

Lexical search over ``knowledge_chunks.text``: an FTS5 table keyed by the chunk id on
SQLite (written and deleted by the store in the chunk's own transaction), a GIN full-text
index on PostgreSQL.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "knowledge_documents",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["persona_slug"], ["personas.slug"], name="fk_knowledge_documents_persona_slug_personas"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_documents"),
    )
    op.create_index("ix_knowledge_documents_persona", "knowledge_documents", ["persona_slug", "id"])
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("document_id", Id, nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("heading", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_documents.id"],
            name="fk_knowledge_chunks_document_id_knowledge_documents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["persona_slug"], ["personas.slug"], name="fk_knowledge_chunks_persona_slug_personas"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_chunks"),
    )
    op.create_index("ix_knowledge_chunks_persona", "knowledge_chunks", ["persona_slug", "id"])
    op.create_index("ix_knowledge_chunks_document", "knowledge_chunks", ["document_id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE knowledge_fts USING fts5(text, tokenize='porter unicode61')"
        )
    else:
        op.execute(
            "CREATE INDEX ix_knowledge_fts ON knowledge_chunks "
            "USING GIN (to_tsvector('english', text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE knowledge_fts")
    else:
        op.execute("DROP INDEX ix_knowledge_fts")
    op.drop_index("ix_knowledge_chunks_document", "knowledge_chunks")
    op.drop_index("ix_knowledge_chunks_persona", "knowledge_chunks")
    op.drop_table("knowledge_chunks")
    op.drop_index("ix_knowledge_documents_persona", "knowledge_documents")
    op.drop_table("knowledge_documents")
