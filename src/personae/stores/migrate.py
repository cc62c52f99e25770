"""Bring a database to the newest schema with the packaged Alembic migrations.

Runs programmatically on a connection of the store's runner (no alembic.ini needed at runtime). An
up-to-date database costs one small query; on PostgreSQL an advisory lock makes concurrent
starts of several servers migrate once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from personae.stores.tables import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x7065_7273  # "pers": any constant shared by every personae server


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(connection: Connection) -> None:
    """Upgrade in one transaction (on PostgreSQL; SQLite runs its DDL as it comes)."""
    with connection.begin():
        upgrade_to_head(connection)


def upgrade_to_head(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Released at commit; a second server waits here, then finds the schema current.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    config = alembic_config()
    if current_heads(connection) == set(ScriptDirectory.from_config(config).get_heads()):
        return
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def current_heads(connection: Connection) -> set[str]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return set(context.get_current_heads())
