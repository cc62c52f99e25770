"""Access tokens with roles, abuse-limit token buckets, the blocklist and data requests.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("personas", sa.Text, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_access_tokens_token_sha256"),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_rate_buckets"),
    )
    op.create_table(
        "blocklist",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name="pk_blocklist"),
    )
    op.create_table(
        "data_requests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=True),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_data_requests"),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_data_requests_person_id_people"
        ),
        sa.UniqueConstraint("token_sha256", name="uq_data_requests_token_sha256"),
    )
    op.create_index("ix_data_requests_person_id", "data_requests", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_data_requests_person_id", "data_requests")
    for name in ("data_requests", "blocklist", "rate_buckets", "access_tokens"):
        op.drop_table(name)
