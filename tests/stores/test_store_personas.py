"""Personas are versioned: a changed spec is a new revision, deletion hides but keeps history."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC

import pytest

from personae.errors import PersonaNotFound
from personae.stores.sql import SqlStore
from personae.types import Persona, PersonRef


def _slug() -> str:
    return f"ada-{uuid.uuid4().hex[:10]}"  # tests share a database per session


def _persona(slug: str, **changes: object) -> Persona:
    fields: dict[str, object] = {"id": slug, "name": "Ada", "greeting": "Hello, I am Ada."}
    fields.update(changes)
    return Persona.model_validate(fields)


async def test_identical_put_keeps_the_revision_and_a_change_adds_one(store: SqlStore) -> None:
    slug = _slug()
    first = await store.put_persona(_persona(slug, extensions={"b": 1, "a": [1, 2]}))
    same = await store.put_persona(_persona(slug, extensions={"a": [1, 2], "b": 1}))
    assert (first.revision, same.revision) == (1, 1)
    assert same.updated_at == first.updated_at

    changed = await store.put_persona(_persona(slug, tagline="Counts in binary"))
    assert changed.revision == 2
    assert changed.created_at == first.created_at
    assert changed.updated_at > first.updated_at

    current = await store.get_persona(slug)
    assert current.revision == 2 and current.persona.tagline == "Counts in binary"
    assert current.persona == changed.persona
    old = await store.get_persona_revision(slug, 1)
    assert old.persona.extensions == {"a": [1, 2], "b": 1}
    assert [r.revision for r in await store.persona_revisions(slug)] == [1, 2]


async def test_a_persona_round_trips_every_field(store: SqlStore) -> None:
    slug = _slug()
    persona = _persona(
        slug,
        alternate_greetings=["Hi!", "Welcome — ça va?"],
        example_dialogues=[[{"user": "2+2?", "persona": "100 in binary."}]],
        style={"do": ["be brief"], "dont": ["shout"]},
        boundaries=["medical advice"],
        model={"engine": "scripted", "temperature": 0.2, "context_budget": 512},
        published=False,
    )
    await store.put_persona(persona)
    record = await store.get_persona(slug)
    assert record.persona == persona
    assert record.created_at.tzinfo is not None
    assert record.created_at.utcoffset() == UTC.utcoffset(None)


async def test_delete_hides_keeps_history_and_a_put_revives(store: SqlStore) -> None:
    slug = _slug()
    await store.put_persona(_persona(slug))
    await store.delete_persona(slug)

    with pytest.raises(PersonaNotFound, match=slug):
        await store.get_persona(slug)
    with pytest.raises(PersonaNotFound):
        await store.delete_persona(slug)
    assert await store.has_persona(slug)
    listed = await store.list_personas(include_unpublished=True)
    assert slug not in {r.persona.id for r in listed}
    assert (await store.get_persona_revision(slug, 1)).revision == 1

    revived = await store.put_persona(_persona(slug))  # the same spec, yet a new revision
    assert revived.revision == 2
    assert (await store.get_persona(slug)).revision == 2
    assert slug in {r.persona.id for r in await store.list_personas()}


async def test_list_hides_unpublished_unless_asked(store: SqlStore) -> None:
    shown, hidden = _slug(), _slug()
    await store.put_persona(_persona(shown))
    await store.put_persona(_persona(hidden, published=False))
    public = {r.persona.id for r in await store.list_personas()}
    everything = {r.persona.id for r in await store.list_personas(include_unpublished=True)}
    assert shown in public and hidden not in public
    assert {shown, hidden} <= everything

    await store.put_persona(_persona(hidden, published=True))  # publishing is a revision too
    assert hidden in {r.persona.id for r in await store.list_personas()}


async def test_unknown_personas_raise_not_found(store: SqlStore) -> None:
    slug = _slug()
    assert not await store.has_persona(slug)
    with pytest.raises(PersonaNotFound, match="personae persona list"):
        await store.get_persona(slug)
    with pytest.raises(PersonaNotFound):
        await store.persona_revisions(slug)
    with pytest.raises(PersonaNotFound):
        await store.delete_persona(slug)
    with pytest.raises(PersonaNotFound):
        await store.open_conversation(slug, PersonRef("web", "someone"))
    await store.put_persona(_persona(slug))
    with pytest.raises(PersonaNotFound):
        await store.get_persona_revision(slug, 7)


async def test_concurrent_puts_of_one_persona_agree(store: SqlStore) -> None:
    slug = _slug()
    specs = [_persona(slug, tagline=f"take {n}") for n in range(4)]
    records = await asyncio.gather(*(store.put_persona(p) for p in specs))
    revisions = [r.revision for r in await store.persona_revisions(slug)]
    assert revisions == list(range(1, len(revisions) + 1))
    assert sorted(r.revision for r in records) == revisions
