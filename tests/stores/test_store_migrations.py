"""Opening a store migrates it; the migrated schema is exactly tables.py; SQLite runs in WAL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from personae.errors import ConfigError
from personae.stores.migrate import alembic_config, current_heads
from personae.stores.sql import SqlStore
from personae.stores.tables import VERSION_TABLE, metadata
from personae.types import Persona

TABLES = {
    "personas",
    "persona_revisions",
    "people",
    "identities",
    "conversations",
    "messages",
    "turns",
}


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrates_an_empty_database_to_head_and_reopens(empty_url: str) -> None:
    head = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    store = await SqlStore.open(empty_url)
    try:
        assert await store.run_sync(current_heads) == head
        assert await store.run_sync(_table_names) >= TABLES | {VERSION_TABLE}
        await store.put_persona(Persona(id="kept", name="Kept", greeting="Hi"))
    finally:
        await store.aclose()

    started = time.perf_counter()
    again = await SqlStore.open(empty_url)
    opened_in = time.perf_counter() - started
    try:
        assert (await again.get_persona("kept")).revision == 1
        assert await again.run_sync(current_heads) == head
        assert opened_in < 2.0, f"re-opening an up-to-date store took {opened_in:.2f}s"
    finally:
        await again.aclose()


def _schema_drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_declared_tables(store: SqlStore) -> None:
    drift = await store.run_sync(_schema_drift)
    assert drift == [], "migrations and tables.py disagree; add a migration for: " + repr(drift)


def _pragma(connection: Connection, name: str) -> Any:
    return connection.execute(text(f"PRAGMA {name}")).scalar_one()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        assert await store.run_sync(_pragma, "journal_mode") == "wal"
        assert await store.run_sync(_pragma, "foreign_keys") == 1
        assert await store.run_sync(_pragma, "synchronous") == 1  # NORMAL
        assert await store.run_sync(_pragma, "busy_timeout") >= 1000
    finally:
        await store.aclose()
    assert (tmp_path / "wal.db-wal").exists() or (tmp_path / "wal.db").exists()


async def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PERSONAE_DATABASE_URL"):
        await SqlStore.open("not a url")


async def test_an_unreachable_server_is_a_config_error() -> None:
    # Port 1 on loopback refuses at once: nothing listens there.
    with pytest.raises(ConfigError, match="cannot open the database"):
        await SqlStore.open("postgresql+asyncpg://nobody@127.0.0.1:1/none")


async def test_an_unwritable_sqlite_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create the database file"):
        await SqlStore.open(f"sqlite+aiosqlite:///{blocker / 'personae.db'}")
