"""What the studio's persona list shows beside each persona: last activity and channels."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, cast, func, select

from personae.stores.tables import (
    channel_connections,
    conversations,
    persona_revisions,
    personas,
)


def persona_activity(conn: Connection) -> dict[str, tuple[datetime | None, tuple[str, ...]]]:
    """slug -> (last conversation update, channel kinds it is bound to or has talked on).
    One grouped read over the (persona_slug, updated_at) index, not a query per persona."""
    last = dict(
        conn.execute(
            select(conversations.c.persona_slug, func.max(conversations.c.updated_at)).group_by(
                conversations.c.persona_slug
            )
        ).all()
    )
    kinds = persona_channels(conn)
    slugs = set(last) | set(kinds)
    return {s: (last.get(s), kinds.get(s, ())) for s in slugs}


def persona_channels(conn: Connection) -> dict[str, tuple[str, ...]]:
    """slug -> channel kinds it is bound to or has talked on, sorted."""
    kinds: dict[str, set[str]] = defaultdict(set)
    for slug, kind in conn.execute(
        select(channel_connections.c.persona_slug, channel_connections.c.kind)
    ):
        kinds[slug].add(kind)
    for slug, channel in conn.execute(
        select(conversations.c.persona_slug, conversations.c.channel)
        .where(~conversations.c.channel.like("api:%"), ~conversations.c.channel.like("openai:%"))
        .distinct()
    ):
        kinds[slug].add(channel.partition(":")[0])
    return {slug: tuple(sorted(found)) for slug, found in kinds.items()}


@dataclass(frozen=True, slots=True)
class PersonaRow:
    """One line of the studio's persona list: no spec parsed, only what the line shows."""

    slug: str
    name: str
    tagline: str
    status: str  # draft, published, changed (as PersonaRecord.status)
    last: datetime | None


def persona_rows(conn: Connection) -> list[PersonaRow]:
    """Every persona not deleted, by slug, with its newest revision's name and tagline and its
    last conversation update: one query, the two fields read out of the JSON by the database
    (a spec with a large lorebook is never loaded here)."""
    last = (
        select(conversations.c.persona_slug, func.max(conversations.c.updated_at).label("last"))
        .group_by(conversations.c.persona_slug)
        .subquery()
    )
    query = (
        select(
            personas.c.slug,
            personas.c.current_revision,
            personas.c.published_revision,
            _field(conn, "name"),
            _field(conn, "tagline"),
            last.c.last,
        )
        .join_from(
            personas,
            persona_revisions,
            (persona_revisions.c.slug == personas.c.slug)
            & (persona_revisions.c.revision == personas.c.current_revision),
        )
        .outerjoin(last, last.c.persona_slug == personas.c.slug)
        .where(personas.c.deleted_at.is_(None))
        .order_by(personas.c.slug)
    )
    return [
        PersonaRow(slug, name or slug, tagline or "", _status(published, current), _utc(at))
        for slug, current, published, name, tagline, at in conn.execute(query)
    ]


def persona_slugs(conn: Connection) -> list[str]:
    """The slugs of every persona not deleted, sorted."""
    query = select(personas.c.slug).where(personas.c.deleted_at.is_(None))
    return list(conn.execute(query.order_by(personas.c.slug)).scalars())


def _field(conn: Connection, key: str) -> ColumnElement[str]:
    spec = persona_revisions.c.spec
    if conn.dialect.name == "postgresql":
        return func.json_extract_path_text(cast(spec, JSON), key)
    return func.json_extract(spec, f"$.{key}")


def _status(published: int | None, current: int) -> str:
    if published is None:
        return "draft"
    return "published" if published >= current else "changed"


def _utc(value: Any) -> datetime | None:
    """A max() over a subquery loses the column's type on SQLite: read it back as UTC."""
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
