"""Persona queries: every change is a new revision; deletion is a flag, history stays.

Each operation is a sync function of a connection outside any transaction (see runner.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from personae.errors import PersonaNotFound, RevisionConflict
from personae.stores.runner import atomic
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
        personas.c.published_revision,
        persona_revisions.c.revision,
        persona_revisions.c.spec,
        persona_revisions.c.created_at.label("revision_created_at"),
    ).join_from(personas, persona_revisions, personas.c.slug == persona_revisions.c.slug)


def _current() -> Select[Any]:
    """The newest revision (a draft, when it is not the published one)."""
    return _records().where(persona_revisions.c.revision == personas.c.current_revision)


def _served() -> Select[Any]:
    """The revision turns serve: the published one (a draft never published has none, and
    is missing to every channel; its test chat names the revision)."""
    return _records().where(persona_revisions.c.revision == personas.c.published_revision)


def has_persona(conn: Connection, slug: str) -> bool:
    return bool(conn.scalar(select(exists().where(personas.c.slug == slug))))


def list_personas(
    conn: Connection, include_unpublished: bool, latest: bool = False
) -> list[PersonaRecord]:
    """Served revisions; ``latest``: the newest ones (drafts included), for the studio."""
    query = (
        (_current() if latest else _served())
        .where(personas.c.deleted_at.is_(None))
        .order_by(personas.c.slug)
    )
    if not include_unpublished:
        query = query.where(personas.c.published.is_(True))
    return [persona_record(row) for row in conn.execute(query).all()]


def get_persona(conn: Connection, slug: str, latest: bool = False) -> PersonaRecord:
    """The served revision; ``latest``: the newest (the studio's draft)."""
    query = (_current() if latest else _served()).where(
        personas.c.slug == slug, personas.c.deleted_at.is_(None)
    )
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


def put_persona(
    conn: Connection, persona: Persona, draft: bool = False, expected: int | None = None
) -> PersonaRecord:
    """A new revision when the spec changed. Not ``draft``: it is published at once (files,
    the plain API). ``expected``: the revision the change was made on; RevisionConflict
    when a newer one exists (nothing written)."""
    spec = persona_to_json(persona)
    for attempt in range(_ATTEMPTS):
        try:
            with atomic(conn):
                return _put(conn, persona, spec, draft, expected)
        except IntegrityError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def put_in_transaction(conn: Connection, persona: Persona, spec: str) -> PersonaRecord:
    """put_persona's write, inside the caller's transaction (no retry)."""
    return _put(conn, persona, spec)


def _put(
    conn: Connection,
    persona: Persona,
    spec: str,
    draft: bool = False,
    expected: int | None = None,
) -> PersonaRecord:
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
        if expected is not None:
            raise PersonaNotFound(persona.id)
        conn.execute(
            insert(personas).values(
                slug=persona.id,
                current_revision=1,
                published=persona.published and not draft,
                published_revision=None if draft else 1,
                created_at=now,
                updated_at=now,
            )
        )
        _add_revision(conn, persona.id, 1, spec, now)
        return PersonaRecord(persona, 1, now, now, None if draft else 1, 1)
    row = conn.execute(_current().where(personas.c.slug == persona.id)).one()
    if expected is not None and expected != row.current_revision:
        raise RevisionConflict(persona.id, expected, row.current_revision)
    if row.deleted_at is None and row.spec == spec:
        if draft or row.published_revision == row.current_revision:
            return _unchanged(persona, row)
        _publish(conn, persona.id, row.current_revision, persona.published, now)
        return _unchanged(persona, row, row.current_revision)
    revision = row.current_revision + 1
    _add_revision(conn, persona.id, revision, spec, now)
    values: dict[str, Any] = {"current_revision": revision, "updated_at": now, "deleted_at": None}
    if not draft:
        values.update(published=persona.published, published_revision=revision)
    conn.execute(update(personas).where(personas.c.slug == persona.id).values(**values))
    published = row.published_revision if draft else revision
    return PersonaRecord(persona, revision, row.created_at, now, published, revision)


def _unchanged(persona: Persona, row: Row[Any], published: int | None = None) -> PersonaRecord:
    return PersonaRecord(
        persona=persona,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.revision_created_at,
        published_revision=published or row.published_revision,
        latest_revision=row.current_revision,
    )


def _publish(conn: Connection, slug: str, revision: int, listed: bool, now: datetime) -> None:
    conn.execute(
        update(personas)
        .where(personas.c.slug == slug)
        .values(published_revision=revision, published=listed, updated_at=now)
    )


def publish(conn: Connection, slug: str, revision: int) -> PersonaRecord:
    """Serve ``revision`` from now on (any stored one: publishing an older one rolls the
    channels back without a new revision); its ``published`` field says if it is listed."""
    with atomic(conn):
        record = _live_revision(conn, slug, revision)
        _publish(conn, slug, revision, record.persona.published, utcnow())
    return get_persona(conn, slug, latest=False)


def rollback(conn: Connection, slug: str, revision: int, expected: int | None) -> PersonaRecord:
    """A new draft revision whose spec is ``revision``'s: history only grows."""
    with atomic(conn):
        record = _live_revision(conn, slug, revision)
        spec = persona_to_json(record.persona)
        return _put(conn, record.persona, spec, draft=True, expected=expected)


def _live_revision(conn: Connection, slug: str, revision: int) -> PersonaRecord:
    get_persona(conn, slug, latest=True)  # PersonaNotFound for a deleted or unknown persona
    return get_revision(conn, slug, revision)


def _add_revision(conn: Connection, slug: str, revision: int, spec: str, now: datetime) -> None:
    conn.execute(
        insert(persona_revisions).values(slug=slug, revision=revision, spec=spec, created_at=now)
    )


def delete_persona(conn: Connection, slug: str) -> None:
    now = utcnow()
    with atomic(conn):
        result = conn.execute(
            update(personas)
            .where(personas.c.slug == slug, personas.c.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now)
        )
    if result.rowcount == 0:
        raise PersonaNotFound(slug)
