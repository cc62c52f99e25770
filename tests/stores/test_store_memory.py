"""Memory rows on both backends: supersession with history, forgetting deletes, owners
never see each other's memories, full-text search (the in-process postings of the owner's
set), a kept vector set brought up to date with its postings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Connection, insert

from personae.stores import postings
from personae.stores.memory import MemoryStore
from personae.stores.memory_rows import touch
from personae.stores.runner import atomic
from personae.stores.sql import SqlStore
from personae.stores.tables import memories
from personae.stores.vectors import VectorSet, updated
from personae.types import Persona, PersonRef
from personae.types.memory import NewMemory

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _vector(seed: int) -> bytes:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return (v / np.linalg.norm(v)).tobytes()


async def _lexical(
    memory: MemoryStore, person: str, slug: str, share: bool, words: list[str], limit: int
) -> list[int]:
    """Full-text search as recall runs it: over the postings of the owner's set."""
    index = await memory.vector_set(person, slug, share)
    assert index.postings is not None
    return postings.ranking(index.postings, postings.query_codes(words), limit)


async def _owner(store: SqlStore) -> tuple[str, str, str]:
    slug = f"mem-{uuid.uuid4().hex[:8]}"
    await store.put_persona(Persona.model_validate({"id": slug, "name": "M", "greeting": "hi"}))
    ana = await store.open_conversation(slug, PersonRef("api", uuid.uuid4().hex))
    bob = await store.open_conversation(slug, PersonRef("api", uuid.uuid4().hex))
    return slug, ana.person_id, bob.person_id


async def test_a_newer_fact_retires_the_older_and_keeps_history(store: SqlStore) -> None:
    memory = MemoryStore(store.runner)
    slug, ana, _ = await _owner(store)
    porto = NewMemory("fact", "They live in Porto", "home", 0.9)
    [old] = await memory.add(slug, ana, None, NOW, [(porto, _vector(1))])
    again = await memory.add(slug, ana, None, NOW, [(porto, _vector(1))])
    assert again == [], "the same fact in the same slot is not stored twice"
    lisbon = NewMemory("fact", "They live in Lisbon", "home", 0.9)
    [new] = await memory.add(slug, ana, None, NOW, [(lisbon, _vector(2))])

    assert [m.text for m in await memory.facts(ana, slug)] == ["They live in Lisbon"]
    history = {m.id: m for m in await memory.history(ana, slug)}
    assert history[old].retired_at is not None and history[old].superseded_by == new
    assert await _lexical(memory, ana, slug, False, ["porto"], 10) == [], "retired: not recalled"
    assert await _lexical(memory, ana, slug, False, ["lisbon"], 10) == [new]


async def test_forgetting_deletes_the_fact_its_history_and_its_message(store: SqlStore) -> None:
    memory = MemoryStore(store.runner)
    slug, _, _ = await _owner(store)
    conversation = await store.open_conversation(slug, PersonRef("api", uuid.uuid4().hex))
    ana = conversation.person_id
    message, _ = await store.add_inbound(conversation, "My sister's name is Ana", None)
    items = [
        (NewMemory("episode", "Person: My sister's name is Ana", None, 0.3), _vector(3)),
        (NewMemory("fact", "Their sister's name is Ana", "name_of:sister", 0.9), _vector(4)),
    ]
    await memory.add(slug, ana, message.id, NOW, items)
    [fact] = await memory.facts(ana, slug)
    assert await memory.forget(ana, slug, fact.id + 1000) is False
    assert await memory.forget(ana, slug, fact.id) is True
    assert await memory.facts(ana, slug) == []
    assert await _lexical(memory, ana, slug, False, ["sister", "ana"], 10) == []
    index = await memory.vector_set(ana, slug, False)
    assert len(index.ids) == 0, "the raw message kept as an episode is deleted too"


async def test_one_person_never_sees_another_persons_memories(store: SqlStore) -> None:
    memory = MemoryStore(store.runner)
    slug, ana, bob = await _owner(store)
    secret = NewMemory("fact", "They are allergic to penicillin", "allergy:penicillin", 1.0)
    [mid] = await memory.add(slug, ana, None, NOW, [(secret, _vector(5))])
    assert await _lexical(memory, bob, slug, True, ["penicillin", "allergic"], 10) == []
    assert len((await memory.vector_set(bob, slug, True)).ids) == 0
    assert await memory.forget(bob, slug, mid) is False, "bob cannot delete ana's memory"
    assert await memory.correct(bob, slug, mid, "nothing", _vector(6)) is None
    assert [m.id for m in await memory.facts(ana, slug)] == [mid]


async def test_forget_all_and_settings(store: SqlStore) -> None:
    memory = MemoryStore(store.runner)
    slug, ana, _ = await _owner(store)
    items = [(NewMemory("fact", f"fact number {i}", None, 0.5), _vector(i)) for i in range(3)]
    await memory.add(slug, ana, None, NOW, items)
    before = await memory.choices(ana, slug)
    assert before.enabled and before.version >= 1
    off = await memory.set_enabled(ana, slug, False)
    assert not off.enabled and off.version > before.version
    assert await memory.forget_all(ana, slug) == 3
    assert await memory.facts(ana, slug) == []


async def test_a_turn_of_many_memories_keeps_its_order_and_its_slots(store: SqlStore) -> None:
    # Slotless memories are inserted together; ids still follow the order given (recall
    # takes id neighbours as the messages around a memory), around a fact that fills a slot.
    memory = MemoryStore(store.runner)
    slug, ana, _ = await _owner(store)
    await memory.add(slug, ana, None, NOW, [(NewMemory("fact", "They live in Porto", "home"),
                                             _vector(20))])  # fmt: skip
    groups = [
        (None, [(NewMemory("episode", "Ana: I moved to Lisbon"), _vector(21)),
                (NewMemory("fact", "They live in Lisbon", "home"), _vector(22)),
                (NewMemory("fact", "They like trams"), _vector(23))]),
        (None, [(NewMemory("episode", "M: How is Lisbon?"), _vector(24))]),
    ]  # fmt: skip
    [[episode, lisbon, trams], [reply]] = await memory.add_groups(slug, ana, NOW, groups)
    assert episode < lisbon < trams < reply
    assert [m.text for m in await memory.facts(ana, slug)] == ["They live in Lisbon",
                                                               "They like trams"]  # fmt: skip
    assert await _lexical(memory, ana, slug, False, ["trams"], 10) == [trams]
    assert await _lexical(memory, ana, slug, False, ["how", "lisbon"], 10) != []


def _same_sets(a: VectorSet, b: VectorSet) -> None:
    assert a.version == b.version
    assert a.ids.tolist() == b.ids.tolist()
    assert np.array_equal(a.vectors, b.vectors)
    assert np.array_equal(a.importance, b.importance) and np.array_equal(a.said_at, b.said_at)
    assert a.signs is not None and b.signs is not None and np.array_equal(a.signs, b.signs)
    assert a.speaker is not None and b.speaker is not None
    assert [a.speakers[c] if c >= 0 else None for c in a.speaker] == [
        b.speakers[c] if c >= 0 else None for c in b.speaker
    ]
    assert a.postings is not None and b.postings is not None
    assert a.postings.ids.tolist() == b.postings.ids.tolist() == a.ids.tolist()
    assert a.postings.lengths.tolist() == b.postings.lengths.tolist()
    for words in (["message"], ["porto", "lisbon"], ["ana", "message", "live"]):
        codes = postings.query_codes(words)
        assert postings.ranking(a.postings, codes, 10) == postings.ranking(b.postings, codes, 10)


async def test_a_kept_vector_set_brought_up_to_date_equals_one_read_afresh(
    store: SqlStore,
) -> None:
    memory = MemoryStore(store.runner)
    slug, ana, _ = await _owner(store)

    def said(who: str, n: int) -> tuple[NewMemory, bytes]:
        return NewMemory("episode", f"{who}: message {n}", None, 0.3), _vector(100 + n)

    await memory.add(slug, ana, None, NOW, [said("Ana", 1), said("Bo", 2)])
    known = await memory.vector_set(ana, slug, False)
    # Added rows (a new speaker among them) only: appended.
    porto = NewMemory("fact", "They live in Porto", "home", 0.9)
    await memory.add(slug, ana, None, NOW, [said("Cy", 3), (porto, _vector(7))])
    grown = updated(known, await memory.vector_changes(ana, slug, False, known))
    _same_sets(grown, await memory.vector_set(ana, slug, False))
    # Then one retired (superseded), one deleted, and more added: dropped and appended.
    lisbon = NewMemory("fact", "They live in Lisbon", "home", 0.9)
    await memory.add(slug, ana, None, NOW, [said("Ana", 4), (lisbon, _vector(8))])
    await memory.forget(ana, slug, int(grown.ids[1]))
    await memory.add(slug, ana, None, NOW, [said("Bo", 5)])
    again = updated(grown, await memory.vector_changes(ana, slug, False, grown))
    _same_sets(again, await memory.vector_set(ana, slug, False))
    assert len(again.ids) == 5  # Ana 1, Cy 3, Ana 4, Lisbon, Bo 5
    # The earlier sets are untouched by what came after them.
    assert len(known.ids) == 2 and known.vectors.shape == (2, 384)
    assert np.array_equal(grown.vectors[0], known.vectors[0])


async def test_full_text_finds_only_the_owners_recallable_rows(store: SqlStore) -> None:
    memory = MemoryStore(store.runner)
    slug, ana, bob = await _owner(store)
    bobs = NewMemory("episode", "Bo: my heron", None, 0.3)
    [[bobs_id]] = [await memory.add(slug, bob, None, NOW, [(bobs, _vector(20))])]
    items = [(NewMemory("episode", f"Ana: heron number {n}", None, 0.3), _vector(30 + n))
             for n in range(6)]  # fmt: skip
    ids = await memory.add(slug, ana, None, NOW, items)
    heron = NewMemory("fact", "They saw a heron", "saw:heron", 0.9)
    [old] = await memory.add(slug, ana, None, NOW, [(heron, _vector(40))])
    herons = NewMemory("fact", "They saw two herons", "saw:heron", 0.9)
    [new] = await memory.add(slug, ana, None, NOW, [(herons, _vector(41))])
    await memory.forget(ana, slug, ids[2])
    found = await _lexical(memory, ana, slug, False, ["heron", "number"], 50)
    assert sorted(found) == sorted([*ids[:2], *ids[3:], new]), "stemmed: herons is heron"
    assert old not in found and ids[2] not in found, "retired and forgotten rows stay out"
    assert bobs_id not in found, "bob's row stays out"
    assert len(await _lexical(memory, ana, slug, False, ["heron"], 3)) == 3


async def test_a_row_committed_below_the_kept_sets_last_id_makes_it_read_whole(
    store: SqlStore,
) -> None:
    """On PostgreSQL a transaction can commit after one holding a later id."""
    memory = MemoryStore(store.runner)
    slug, ana, _ = await _owner(store)
    items = [(NewMemory("episode", f"Ana: line {n}", None, 0.3), _vector(50 + n)) for n in range(3)]
    ids = await memory.add(slug, ana, None, NOW, items)
    await memory.forget(ana, slug, ids[1])
    known = await memory.vector_set(ana, slug, False)

    def late(conn: Connection) -> None:  # the row the slower transaction held
        with atomic(conn):
            conn.execute(
                insert(memories).values(
                    id=ids[1], persona_slug=slug, person_id=ana, scope="person",
                    kind="episode", text="Ana: late line", importance=0.3, said_at=NOW,
                    embedding=_vector(60), created_at=NOW,
                )
            )  # fmt: skip
            touch(conn, ana, slug)

    await store.runner.write(late)
    changes = await memory.vector_changes(ana, slug, False, known)
    assert changes.whole
    _same_sets(updated(known, changes), await memory.vector_set(ana, slug, False))


async def test_a_kept_set_of_episodes_sees_an_episode_deleted_and_others_added(
    store: SqlStore,
) -> None:
    memory = MemoryStore(store.runner)
    slug, ana, bob = await _owner(store)
    lines = [(NewMemory("episode", f"Ana: line {n}", None, 0.3), _vector(70 + n)) for n in range(4)]
    ids = await memory.add(slug, ana, None, NOW, lines)
    await memory.add(slug, bob, None, NOW, lines[:1])  # another person's rows change nothing
    known = await memory.vector_set(ana, slug, False)
    assert known.owned == 4
    more = [(NewMemory("episode", "Bo: more", None, 0.3), _vector(80))]
    await memory.add(slug, ana, None, NOW, more)
    grown = updated(known, await memory.vector_changes(ana, slug, False, known))
    _same_sets(grown, await memory.vector_set(ana, slug, False))
    await memory.forget(ana, slug, ids[1])  # an episode: nothing newer retires it
    await memory.add(slug, ana, None, NOW, more)
    again = updated(grown, await memory.vector_changes(ana, slug, False, grown))
    _same_sets(again, await memory.vector_set(ana, slug, False))
    assert ids[1] not in again.ids.tolist() and len(again.ids) == 5
