"""A person's export holds every row about them; their deletion leaves none, in any table.

The walk covers the whole schema (tables.metadata), so a table added later that can hold a
person's rows fails here until people.py says how to find them.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, select, text

from personae.stores import limits, people
from personae.stores.channel_state import MediaRecord
from personae.stores.limits import Bucket
from personae.stores.memory import MemoryStore
from personae.stores.sql import SqlStore
from personae.stores.tables import metadata
from personae.types import OutboxItem, Persona, PersonRef, Timings, Trace, Usage
from personae.types.lore import LoreTimer
from personae.types.memory import NewMemory

# Columns that, by name, point at a person or at what is theirs.
PERSONAL_COLUMNS = {"person_id", "conversation_id", "message_id", "peer_id", "external_id"}
PERSONAL_TABLES = {"people", "identities", "conversations", "messages"}


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _trace() -> Trace:
    return Trace("scripted", "echo", 100, (), (), 0, Timings(0.0, 0.0, None, 1.0), Usage(), None)


def test_every_table_says_whether_it_holds_rows_about_a_person() -> None:
    covered, exempt = set(people.ABOUT_PERSON), people.NOT_ABOUT_PEOPLE
    assert not covered & exempt
    unclassified = set(metadata.tables) - covered - exempt
    assert not unclassified, (
        f"tables {sorted(unclassified)} are neither in people.ABOUT_PERSON (deleted and exported "
        "with the person) nor in people.NOT_ABOUT_PEOPLE: add each to one of them"
    )
    for name in exempt:
        table = metadata.tables[name]
        named = {c.name for c in table.columns} & PERSONAL_COLUMNS
        pointing = {fk.column.table.name for fk in table.foreign_keys} & PERSONAL_TABLES
        assert not named and not pointing, (
            f"table {name} is listed as holding nothing about people, yet has {named or pointing}"
        )


async def _fill(store: SqlStore, slug: str, media: Path) -> dict[str, Any]:
    """One person with a row in every table that can hold one; returns what names them."""
    channel = f"whatsapp:{_id('acct')}"
    person = PersonRef(channel, _id("+49"))
    first = await store.accept_turn(slug, person, "hello there", _id("wamid"), "turn", "{}")
    assert first.job is not None
    await store.begin_turn(first.job, 50)
    payload = json.dumps({"chat_id": person.external_id, "text": "hi back"})
    reply, _ = await store.complete_turn(
        first.conversation, first.message, "hi back", 1, _trace(), first.job.id,
        [OutboxItem(channel, payload)],
    )  # fmt: skip
    second = await store.accept_turn(slug, person, "and again", _id("wamid"), "turn", "{}")
    # Their rating of the reply (as a reaction would store it).
    assert await store.rate_web_reply(reply.id, first.conversation.person_id, channel, 1)
    shared = media / f"shared-{uuid.uuid4().hex}"
    own = media / f"own-{uuid.uuid4().hex}"
    for path in (shared, own):
        path.write_bytes(b"picture")
    await store.add_attachment(MediaRecord(first.message.id, 0, "image", "m1", "ok", path=str(own)))
    await store.add_attachment(
        MediaRecord(second.message.id, 0, "image", "m2", "ok", path=str(shared))
    )
    at = first.message.created_at
    await store.add_channel_event(
        "reaction", channel, _id("wamid"), person.external_id, {"emoji": "+1"}, at
    )
    # A lorebook entry stuck to their conversation: its timer is about the person too.
    await store.save_lore_timers(first.conversation.id, [LoreTimer("entry-1", 2, 5, 9)])
    person_id = first.conversation.person_id
    # What the persona remembers of them: a fact from their message, and their memory choices.
    memory = MemoryStore(store.runner)
    marker = uuid.uuid4().hex  # a word only this person's fact holds
    fact = NewMemory("fact", f"Their sister is called Ana {marker}", key="sister")
    await memory.add(slug, person_id, first.message.id, at, [(fact, bytes(4 * 384))])
    await memory.set_share(person_id, slug, True)
    bucket = Bucket(limits.person_subject(person), 1.0, 5.0, "person")
    assert await store.admit([bucket], time.time(), person) == limits.Admission()
    await store.add_block("person", person_id, "spam")
    assert (await store.admit([bucket], time.time(), person)).blocked == "person"
    await store.request_deletion(person_id, 600)
    await store.request_export(person_id, 600)
    return {
        "person_id": person_id,
        "person": person,
        "conversation_id": first.conversation.id,
        "message_ids": {first.message.id, second.message.id, reply.id},
        "files": (own, shared),
        "marker": marker,
    }


def _rows(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for table in metadata.sorted_tables:
        assert isinstance(table, Table)
        found[table.name] = [dict(r) for r in conn.execute(select(table)).mappings().all()]
    return found


def _mentions(rows: dict[str, list[dict[str, Any]]], needles: set[str]) -> list[str]:
    """Every cell (of every table) that contains one of the needles."""
    hits = []
    for table, records in rows.items():
        for record in records:
            for column, value in record.items():
                text = str(value)
                if any(n in text for n in needles):
                    hits.append(f"{table}.{column}={text[:60]}")
    return hits


async def test_deleting_a_person_leaves_no_row_about_them_in_any_table(
    store: SqlStore, tmp_path: Path
) -> None:
    slug = _id("ada")
    await store.put_persona(Persona(id=slug, name="Ada", greeting="Hello"))
    gone = await _fill(store, slug, tmp_path)
    kept = await _fill(store, slug, tmp_path)
    # The other person sent the same picture: its file must stay.
    kept_shared = gone["files"][1]
    await store.add_attachment(
        MediaRecord(min(kept["message_ids"]), 1, "image", "m3", "ok", path=str(kept_shared))
    )
    export = await store.export_person(gone["person_id"])
    before = await store.run_sync(_rows)
    for name in people.ABOUT_PERSON:
        assert export["tables"][name], f"the export holds no {name} row, yet the person has one"
    assert json.dumps(export)  # a JSON file as it stands

    removed = await store.delete_person(gone["person_id"])

    after = await store.run_sync(_rows)
    person = gone["person"]
    needles = {gone["person_id"], gone["conversation_id"], person.external_id,
               limits.person_subject(person)}  # fmt: skip
    assert not _mentions(after, needles), "rows still name the deleted person"
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name in {"message_id", "inbound_message_id", "reply_message_id", "reply_to"}:
                left = {r[column.name] for r in after[table.name]} & gone["message_ids"]
                assert not left, f"{table.name}.{column.name} still points at their messages"
    assert {r["id"] for r in after["messages"]}.isdisjoint(gone["message_ids"])
    # Only their rows went: the other person's are all there.
    for name, records in before.items():
        if name not in people.ABOUT_PERSON:
            assert after[name] == records, f"{name} changed, yet holds nothing about people"
    assert _mentions(after, {kept["person_id"], kept["person"].external_id})
    assert removed == 1 and not gone["files"][0].exists() and kept_shared.exists()
    # A memory's text is in its row only (full-text search is built in the process, r0016):
    # theirs is gone, and no second copy (as SQLite's FTS5 table kept) holds it.
    assert await store.run_sync(_stored, gone["marker"]) == 0
    assert await store.run_sync(_stored, kept["marker"]) == 1
    assert not await store.run_sync(_full_text_tables)


def _stored(conn: Connection, word: str) -> int:
    query = text("SELECT count(*) FROM memories WHERE text LIKE :word")
    return int(conn.execute(query, {"word": f"%{word}%"}).scalar_one())


def _full_text_tables(conn: Connection) -> list[str]:
    if conn.dialect.name != "sqlite":
        query = text("SELECT indexname FROM pg_indexes WHERE indexname = 'ix_memories_fts'")
    else:
        query = text("SELECT name FROM sqlite_master WHERE name LIKE 'memories_fts%'")
    return list(conn.execute(query).scalars())
