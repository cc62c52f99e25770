"""Persona queries: every change is a new revision; deletion is a flag, history stays.

Each operation is a sync function of a connection outside any transaction (see runner.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from personae.errors import PersonaNotFound
from personae.stores.serialize import persona_record, persona_to_json
from personae.stores.tables import persona_revisions, personas, utcnow
from personae.types import Persona, PersonaRecord

_ATTEMPTS = 3  # concurrent creators of a new slug: the losers retry once it exists


def _records() -> Select[Any]:
    return select(
        personas.c.slug,
        personas.c.created_at,
        personas.c.deleted_at,
        personas.c.current_revision,
        persona_revisions.c.revision,
        persona_revisions.c.spec,
        persona_revisions.c.created_at.label("revision_created_at"),
    ).join_from(personas, persona_revisions, personas.c.slug == persona_revisions.c.slug)


def _current() -> Select[Any]:
    return _records().where(persona_revisions.c.revision == personas.c.current_revision)


def has_persona(conn: Connection, slug: str) -> bool:
    return bool(conn.scalar(select(exists().where(personas.c.slug == slug))))


def list_personas(conn: Connection, include_unpublished: bool) -> list[PersonaRecord]:
    query = _current().where(personas.c.deleted_at.is_(None)).order_by(personas.c.slug)
    if not include_unpublished:
        query = query.where(personas.c.published.is_(True))
    return [persona_record(row) for row in conn.execute(query).all()]


def get_persona(conn: Connection, slug: str) -> PersonaRecord:
    query = _current().where(personas.c.slug == slug, personas.c.deleted_at.is_(None))
    row = conn.execute(query).first()
    if row is None:
        raise PersonaNotFound(slug)
    return persona_record(row)


def get_revision(conn: Connection, slug: str, revision: int) -> PersonaRecord:
    query = _records().where(personas.c.slug == slug, persona_revisions.c.revision == revision)
    row = conn.execute(query).first()
    if row is None:
        raise PersonaNotFound(f"{slug} revision {revision}")
    return persona_record(row)


def revisions(conn: Connection, slug: str) -> list[PersonaRecord]:
    query = _records().where(personas.c.slug == slug).order_by(persona_revisions.c.revision)
    rows = conn.execute(query).all()
    if not rows:
        raise PersonaNotFound(slug)
    return [persona_record(row) for row in rows]


def put_persona(conn: Connection, persona: Persona) -> PersonaRecord:
    spec = persona_to_json(persona)
    for attempt in range(_ATTEMPTS):
        try:
            with conn.begin():
                return _put(conn, persona, spec)
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def put_in_transaction(conn: Connection, persona: Persona, spec: str) -> PersonaRecord:
    """put_persona's write, inside the caller's transaction (no retry)."""
    return _put(conn, persona, spec)


def _put(conn: Connection, persona: Persona, spec: str) -> PersonaRecord:
    now = utcnow()
    # A no-op write first takes the row lock (PostgreSQL) or the write lock (SQLite), so
    # concurrent writers of one slug queue here instead of colliding on the revision key. A
    # writer that locked nothing creates the persona; if another creator wins, the unique key
    # trips and the caller retries, now finding the row to lock.
    locked = conn.execute(
        update(personas)
        .where(personas.c.slug == persona.id)
        .values(current_revision=personas.c.current_revision)
    )
    if locked.rowcount == 0:
        conn.execute(
            insert(personas).values(
                slug=persona.id,
                current_revision=1,
                published=persona.published,
                created_at=now,
                updated_at=now,
            )
        )
        _add_revision(conn, persona.id, 1, spec, now)
        return PersonaRecord(persona=persona, revision=1, created_at=now, updated_at=now)
    row = conn.execute(_current().where(personas.c.slug == persona.id)).one()
    if row.deleted_at is None and row.spec == spec:
        return _unchanged(persona, row)
    revision = row.current_revision + 1
    _add_revision(conn, persona.id, revision, spec, now)
    conn.execute(
        update(personas)
        .where(personas.c.slug == persona.id)
        .values(
            current_revision=revision, published=persona.published, updated_at=now, deleted_at=None
        )
    )
    return PersonaRecord(
        persona=persona, revision=revision, created_at=row.created_at, updated_at=now
    )


def _unchanged(persona: Persona, row: Row[Any]) -> PersonaRecord:
    return PersonaRecord(
        persona=persona,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.revision_created_at,
    )


def _add_revision(conn: Connection, slug: str, revision: int, spec: str, now: datetime) -> None:
    conn.execute(
        insert(persona_revisions).values(slug=slug, revision=revision, spec=spec, created_at=now)
    )


def delete_persona(conn: Connection, slug: str) -> None:
    now = utcnow()
    with conn.begin():
        result = conn.execute(
            update(personas)
            .where(personas.c.slug == slug, personas.c.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now)
        )
    if result.rowcount == 0:
        raise PersonaNotFound(slug)
