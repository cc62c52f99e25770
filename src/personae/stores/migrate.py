"""Bring a database to the newest schema with the packaged Alembic migrations.

Runs programmatically on a connection of the store's runner (no alembic.ini needed at runtime). An
up-to-date database costs one small query; on PostgreSQL an advisory lock makes concurrent
starts of several servers migrate once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    with sqlite_foreign_keys_off(connection), connection.begin():
        upgrade_to_head(connection)
        check_foreign_keys(connection)


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite alters a table by copying it and dropping the old one, which trips the foreign
    keys of every table pointing at it. SQLite's own procedure: keys off (only possible
    outside a transaction), migrate, check them (check_foreign_keys), keys back on."""
    if connection.dialect.name != "sqlite":
        yield
        return
    _pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    connection.exec_driver_sql(statement)
    connection.commit()  # ends the autobegun transaction; the pragma applies outside one


def check_foreign_keys(connection: Connection) -> None:
    """SQLite: refuse to commit a migration that left a row pointing nowhere."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
    if broken is not None:
        raise RuntimeError(
            f"the migration left table {broken[0]!r} row {broken[1]} pointing at a missing "
            f"{broken[2]!r} row; the database is unchanged, report this as a bug"
        )


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
