"""People (one per channel identity) and conversations (persona × person × channel).

Get-or-create is race-safe without locks: insert, and when a unique key says another writer
won, read the winner's row. Sync functions of a connection outside a transaction (runner.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    exists,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from personae.errors import BadRequest, ConversationNotFound, NotFound, PersonaNotFound
from personae.stores.runner import atomic
from personae.stores.serialize import conversation_ref, conversation_summary
from personae.stores.tables import conversations, identities, messages, people, personas, utcnow
from personae.types import ConversationRef, ConversationSummary, PersonRef


def find_person(conn: Connection, person: PersonRef) -> str | None:
    found: str | None = conn.scalar(_person_query(person))
    return found


def person_ref(conn: Connection, person_id: str, channel: str) -> PersonRef:
    query = select(identities.c.external_id).where(
        identities.c.person_id == person_id, identities.c.channel == channel
    )
    external_id: str | None = conn.scalar(query)
    if external_id is None:
        raise NotFound(
            f"no person {person_id!r} on channel {channel!r}; take person ids from "
            "GET /api/conversations, which lists each conversation's person and channel"
        )
    return PersonRef(channel, external_id)


def open_conversation(conn: Connection, persona_slug: str, person: PersonRef) -> ConversationRef:
    # One transaction whatever happens: a returning person costs one query, a new one a few
    # inserts. A unique key that trips means a concurrent open won; the retry reads its rows.
    try:
        with atomic(conn):
            return get_or_create(conn, persona_slug, person)
    except IntegrityError:
        with atomic(conn):
            return get_or_create(conn, persona_slug, person)


# Built once (the accept path runs it per message): a person's conversation with a persona.
_FIND = (
    select(conversations)
    .join_from(
        conversations,
        identities,
        (identities.c.person_id == conversations.c.person_id)
        & (identities.c.channel == conversations.c.channel),
    )
    .where(
        identities.c.channel == bindparam("channel"),
        identities.c.external_id == bindparam("external"),
        conversations.c.persona_slug == bindparam("slug"),
    )
)
_FIND_LOCKED = _FIND.with_for_update(of=conversations)


def get_or_create(
    conn: Connection, persona_slug: str, person: PersonRef, lock: bool = False
) -> ConversationRef:
    """Inside the caller's transaction; ``lock`` holds the conversation's row until it ends
    (PostgreSQL; SQLite has one writer anyway)."""
    query = _FIND_LOCKED if lock else _FIND
    params = {"channel": person.channel, "external": person.external_id, "slug": persona_slug}
    row = conn.execute(query, params).first()
    if row is not None:
        return conversation_ref(row)
    live = exists().where(personas.c.slug == persona_slug, personas.c.deleted_at.is_(None))
    if not conn.scalar(select(live)):
        raise PersonaNotFound(persona_slug)
    found: str | None = conn.scalar(_person_query(person))
    person_id = found or _add_person(conn, person)
    now = utcnow()
    ref = ConversationRef(uuid.uuid4().hex, persona_slug, person_id, person.channel)
    conn.execute(
        insert(conversations).values(
            id=ref.id,
            persona_slug=persona_slug,
            person_id=person_id,
            channel=person.channel,
            created_at=now,
            updated_at=now,
        )
    )
    return ref


def _person_query(person: PersonRef) -> Select[Any]:
    return select(identities.c.person_id).where(
        identities.c.channel == person.channel, identities.c.external_id == person.external_id
    )


def _add_person(conn: Connection, person: PersonRef) -> str:
    now, person_id = utcnow(), uuid.uuid4().hex
    conn.execute(insert(people).values(id=person_id, created_at=now))
    conn.execute(
        insert(identities).values(
            channel=person.channel,
            external_id=person.external_id,
            person_id=person_id,
            created_at=now,
        )
    )
    return person_id


def get_conversation(conn: Connection, conversation_id: str) -> ConversationRef:
    query = select(conversations).where(conversations.c.id == conversation_id)
    row = conn.execute(query).first()
    if row is None:
        raise ConversationNotFound(conversation_id)
    return conversation_ref(row)


def list_conversations(
    conn: Connection, persona: str | None, person_id: str | None, limit: int, offset: int
) -> list[ConversationSummary]:
    if limit < 0 or offset < 0:
        raise BadRequest(
            f"limit and offset must be 0 or more (got limit={limit}, offset={offset}); "
            "page with limit=50&offset=50"
        )
    count = (
        select(func.count(messages.c.id))
        .where(messages.c.conversation_id == conversations.c.id)
        .scalar_subquery()
    )
    filters: list[ColumnElement[Any]] = []
    if persona is not None:
        filters.append(conversations.c.persona_slug == persona)
    if person_id is not None:
        filters.append(conversations.c.person_id == person_id)
    query = (
        select(conversations, count.label("message_count"))
        .where(*filters)
        .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [conversation_summary(row) for row in conn.execute(query).all()]


def require_conversation(conn: Connection, conversation_id: str) -> None:
    found = exists().where(conversations.c.id == conversation_id)
    if not conn.scalar(select(found)):
        raise ConversationNotFound(conversation_id)
