"""People named by API callers before clients existed become people of the client `local`.

From this revision on, a person an API caller names with `user` is stored on "<channel>:<client>"
(server/identity.py). Before, /v1 and /api people were stored on plain "openai" and "api", and
with no API key configured (the default) every caller was, in effect, the keyless client
`local`: moving them there lets those conversations continue. On a server with API keys the
client `local` is unreachable, so nobody gains access to them; the admin still reads them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("identities", "conversations", "messages")  # each keeps the person's channel
_API_CHANNELS = ("api", "openai")
_LOCAL = "local"


def upgrade() -> None:
    for channel in _API_CHANNELS:
        _rename(channel, f"{channel}:{_LOCAL}")


def downgrade() -> None:
    for channel in _API_CHANNELS:
        _rename(f"{channel}:{_LOCAL}", channel)


def _rename(old: str, new: str) -> None:
    for name in _TABLES:
        table = sa.table(name, sa.column("channel", sa.String(64)))
        op.execute(table.update().where(table.c.channel == old).values(channel=new))
