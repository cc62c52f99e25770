"""A message's attachments as recorded: a web chat voice note keeps its transcript beside its
hash from the first write (channels add it later, with record_heard), on every backend."""

from __future__ import annotations

import uuid

from personae.stores.sql import SqlStore
from personae.types import MediaRecord, Persona, PersonRef


async def test_an_attachment_recorded_with_its_transcript_keeps_it(store: SqlStore) -> None:
    slug = f"p-{uuid.uuid4().hex[:8]}"
    await store.put_persona(Persona(id=slug, name="Ada", greeting="Hello"))
    person = PersonRef("web", uuid.uuid4().hex)
    accepted = await store.accept_turn(slug, person, "i tell you", None, "turn", "{}")
    note = MediaRecord(
        accepted.message.id, 0, "audio", "upload", "ok", "audio/webm", 1234, "a" * 64,
        "/media/" + "a" * 64, transcript="i tell you",
    )  # fmt: skip
    assert await store.add_attachment(note)
    assert not await store.add_attachment(note)  # once per (message, position)
    assert await store.message_attachments(accepted.message.id) == [note]
