"""Opening a store migrates it; the migrated schema is exactly tables.py; SQLite runs in WAL."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, inspect, select, text

from personae.errors import ConfigError, ConversationNotFound
from personae.stores.connect import open_runner
from personae.stores.migrate import alembic_config, current_heads, sqlite_foreign_keys_off
from personae.stores.sql import SqlStore
from personae.stores.tables import FULL_TEXT_NAMES, VERSION_TABLE, messages, metadata, turns, utcnow
from personae.types import ConversationRef, Persona, PersonRef

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
    def declared(name: str | None, kind: str, _parents: object) -> bool:
        # Full-text search objects are made by r0008 outside tables.py (FTS5, GIN index).
        return not (name and name.startswith(FULL_TEXT_NAMES))

    opts = {"version_table": VERSION_TABLE, "include_name": declared}
    context = MigrationContext.configure(connection, opts=opts)
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


def _upgrade_to(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    with connection.begin():
        command.upgrade(config, revision)


def _first_schema_rows(connection: Connection) -> None:
    """Rows as revision 0001 stored them: a person's message id, its reply, and the turn."""
    now = utcnow()
    with connection.begin():
        for statement in (
            "INSERT INTO personas VALUES ('old', 1, true, :now, :now, NULL)",
            "INSERT INTO persona_revisions VALUES ('old', 1, '{}', :now)",
            "INSERT INTO people VALUES ('p1', :now)",
            "INSERT INTO identities VALUES ('openai', 'ann', 'p1', :now)",
            "INSERT INTO conversations VALUES ('c1', 'old', 'p1', 'openai', :now, :now)",
        ):
            connection.execute(text(statement), {"now": now})
        common = {"conversation_id": "c1", "channel": "openai", "created_at": now}
        hi = connection.execute(
            insert(messages).values(role="user", content="hi", external_id="7", **common)
        ).inserted_primary_key
        assert hi is not None
        hello = connection.execute(
            insert(messages).values(role="assistant", content="hello", reply_to=hi[0], **common)
        ).inserted_primary_key
        assert hello is not None
        connection.execute(
            insert(turns).values(
                conversation_id="c1",
                inbound_message_id=hi[0],
                reply_message_id=hello[0],
                persona_revision=1,
                status="ok",
                created_at=now,
            )
        )


def _message_channels(connection: Connection) -> set[str]:
    return set(connection.scalars(select(messages.c.channel)))


async def test_upgrading_from_0001_keeps_the_rows_and_scopes_message_ids(empty_url: str) -> None:
    runner = open_runner(empty_url)
    try:
        await runner.write_alone(_upgrade_to, "0001")
        await runner.write_alone(_first_schema_rows)
    finally:
        await runner.aclose()

    store = await SqlStore.open(empty_url)  # migrates to head
    try:
        assert await store.run_sync(_schema_drift) == []
        # 0003: the /v1 person "ann" is now "ann" of the keyless client, history and all.
        old = await store.open_conversation("old", PersonRef("openai:local", "ann"))
        assert (old.id, old.person_id, old.channel) == ("c1", "p1", "openai:local")
        hi, hello = await store.conversation_messages("c1")
        assert [(m.content, m.external_id) for m in (hi, hello)] == [("hi", "7"), ("hello", None)]
        assert await store.run_sync(_message_channels) == {"openai:local"}
        assert [t.reply_message_id for t in await store.conversation_turns("c1")] == [hello.id]
        again, replayed = await store.add_inbound(old, "hi", "7")
        assert (again, replayed) == (hi, hello)
        # 0002: another person on the same channel may now use the same id: their own message.
        other = await store.open_conversation("old", PersonRef("openai:local", "ben"))
        theirs, none = await store.add_inbound(other, "mine", "7")
        assert none is None and theirs.conversation_id == other.id
        # The writer's foreign keys are back on: a message for no conversation is refused.
        with pytest.raises(ConversationNotFound):
            await store.add_inbound(ConversationRef("0" * 32, "old", "p1", "web"), "x", None)
    finally:
        await store.aclose()


def _upgrade_keys_off(connection: Connection, revision: str) -> None:
    with sqlite_foreign_keys_off(connection):  # as migrate() does around SQLite table copies
        _upgrade_to(connection, revision)


def _downgrade_to(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    with connection.begin():
        command.downgrade(config, revision)


async def test_0004_adds_work_and_outbox_and_an_old_unanswered_message_gets_its_job(
    empty_url: str,
) -> None:
    runner = open_runner(empty_url)
    try:
        await runner.write_alone(_upgrade_to, "0001")
        await runner.write_alone(_first_schema_rows)
        await runner.write_alone(_upgrade_keys_off, "0003")
    finally:
        await runner.aclose()

    store = await SqlStore.open(empty_url)  # 0004
    try:
        assert await store.run_sync(_table_names) >= TABLES | {"work", "outbox"}
        assert await store.unfinished_work(["turn"]) == []  # old turns need no job
        person = PersonRef("openai:local", "ann")
        answered = await store.accept_turn("old", person, "hi", "7", "turn", "{}")
        assert answered.reply is not None and answered.job is None
        asked = await store.accept_turn("old", person, "still there?", "8", "turn", "{}")
        assert asked.new_work and [j.id for j in await store.unfinished_work(["turn"])] == [
            asked.job.id if asked.job else None
        ]
    finally:
        await store.aclose()

    runner = open_runner(empty_url)
    try:
        await runner.write_alone(_downgrade_to, "0003")
        names = await runner.read(_table_names)
        assert "work" not in names and "outbox" not in names and "messages" in names
    finally:
        await runner.aclose()


async def test_0014_counts_the_stored_messages_into_the_rollups(empty_url: str) -> None:
    runner = open_runner(empty_url)
    try:
        await runner.write_alone(_upgrade_to, "0001")
        await runner.write_alone(_first_schema_rows)
        await runner.write_alone(_upgrade_keys_off, "0013")
    finally:
        await runner.aclose()

    store = await SqlStore.open(empty_url)  # 0014 backfills
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        found = await store.analytics(["old"], today, today + timedelta(days=1))
        assert (found.totals["messages"], found.totals["replies"]) == (1, 1)
        assert (found.totals["people"], found.totals["conversations"]) == (1, 1)
        assert found.statuses["ok"] == 1 and found.retention[0]["people"] == 1
    finally:
        await store.aclose()

    runner = open_runner(empty_url)
    try:
        await runner.write_alone(_downgrade_to, "0013")
        names = await runner.read(_table_names)
        assert not {"rollup_daily", "rollup_activity", "rollup_people"} & names
    finally:
        await runner.aclose()


def _person_day_rows(connection: Connection) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in connection.execute(text("SELECT * FROM rollup_person_days"))]


async def test_0015_counts_each_persons_days_from_the_activity_rollup(empty_url: str) -> None:
    runner = open_runner(empty_url)
    try:
        await runner.write_alone(_upgrade_to, "0001")
        await runner.write_alone(_first_schema_rows)
        await runner.write_alone(_upgrade_keys_off, "0014")
    finally:
        await runner.aclose()

    store = await SqlStore.open(empty_url)  # 0015 backfills
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        assert await store.runner.read(_person_day_rows) == [("p1", today.date().isoformat(), None)]
        found = await store.analytics(None, today, today + timedelta(days=1))
        assert found.totals["people"] == 1 and found.daily[0]["active_people"] == 1
        assert found.weekly[0]["active_people"] == 1 and found.retention[0]["people"] == 1
    finally:
        await store.aclose()

    runner = open_runner(empty_url)
    try:
        await runner.write_alone(_downgrade_to, "0014")
        assert "rollup_person_days" not in await runner.read(_table_names)
    finally:
        await runner.aclose()
