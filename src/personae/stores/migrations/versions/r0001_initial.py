"""Initial schema: personas with revisions, people and identities, conversations, messages, turns.

Written by hand and frozen: later changes get their own revision, never an edit here.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PK autoincrements


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)  # the store reads and writes them as UTC


def upgrade() -> None:
    _personas()
    _people()
    _conversations()
    _messages()
    _turns()


def downgrade() -> None:
    for table in (
        "turns",
        "messages",
        "conversations",
        "identities",
        "people",
        "persona_revisions",
        "personas",
    ):
        op.drop_table(table)


def _personas() -> None:
    op.create_table(
        "personas",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("current_revision", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("deleted_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("slug", name="pk_personas"),
    )
    op.create_table(
        "persona_revisions",
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("slug", "revision", name="pk_persona_revisions"),
        sa.ForeignKeyConstraint(
            ["slug"], ["personas.slug"], name="fk_persona_revisions_slug_personas"
        ),
    )


def _people() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_people"),
    )
    op.create_table(
        "identities",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "external_id", name="pk_identities"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_identities_person_id_people"
        ),
    )
    op.create_index("ix_identities_person_id", "identities", ["person_id"])


def _conversations() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("persona_slug", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.ForeignKeyConstraint(
            ["persona_slug"], ["personas.slug"], name="fk_conversations_persona_slug_personas"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_conversations_person_id_people"
        ),
        sa.UniqueConstraint(
            "persona_slug", "person_id", "channel", name="uq_conversations_persona_slug"
        ),
    )
    op.create_index(
        "ix_conversations_persona_updated", "conversations", ["persona_slug", "updated_at"]
    )
    op.create_index("ix_conversations_person_updated", "conversations", ["person_id", "updated_at"])
    op.create_index("ix_conversations_updated", "conversations", ["updated_at"])


def _messages() -> None:
    op.create_table(
        "messages",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("reply_to", _ID, nullable=True),
        sa.Column("persona_revision", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_messages_conversation_id_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["reply_to"], ["messages.id"], name="fk_messages_reply_to_messages"
        ),
        sa.UniqueConstraint("channel", "external_id", name="uq_messages_channel"),
        sa.UniqueConstraint("reply_to", name="uq_messages_reply_to"),
    )
    op.create_index("ix_messages_conversation_id", "messages", ["conversation_id", "id"])


def _turns() -> None:
    op.create_table(
        "turns",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("inbound_message_id", _ID, nullable=False),
        sa.Column("reply_message_id", _ID, nullable=True),
        sa.Column("persona_revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trace", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_turns"),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name="fk_turns_conversation_id_conversations"
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"], ["messages.id"], name="fk_turns_inbound_message_id_messages"
        ),
        sa.ForeignKeyConstraint(
            ["reply_message_id"], ["messages.id"], name="fk_turns_reply_message_id_messages"
        ),
    )
    op.create_index("ix_turns_inbound_message_id", "turns", ["inbound_message_id"])
    op.create_index("ix_turns_conversation_id", "turns", ["conversation_id", "id"])
