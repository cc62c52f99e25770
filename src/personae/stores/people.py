"""Everything stored about one person, in one place: their export and their deletion.

``ABOUT_PERSON`` names, for every table that can hold a row about a person, which rows those
are. Export reads exactly those rows and deletion removes exactly those rows, so the two can
not drift apart; ``NOT_ABOUT_PEOPLE`` lists the tables that never hold one. A test walks the
whole schema and fails for a table in neither (a new table must say which it is) and for any
row still naming the person after a deletion.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    delete,
    false,
    insert,
    or_,
    select,
    update,
)

from personae.errors import NotFound
from personae.stores import limits
from personae.stores.runner import atomic
from personae.stores.tables import (
    attachments,
    blocklist,
    channel_events,
    conversations,
    data_requests,
    identities,
    lore_timers,
    memories,
    memory_settings,
    messages,
    outbox,
    people,
    rate_buckets,
    ratings,
    rollup_activity,
    rollup_people,
    rollup_person_days,
    turns,
    utcnow,
    work,
)
from personae.types import PersonRef


@dataclass(frozen=True, slots=True)
class Scope:
    """The person and their identities: the keys every table's rows about them hang on."""

    person_id: str
    identities: tuple[PersonRef, ...]

    def conversation_ids(self) -> Select[tuple[str]]:
        return select(conversations.c.id).where(conversations.c.person_id == self.person_id)

    def message_ids(self) -> Select[tuple[int]]:
        return select(messages.c.id).where(messages.c.conversation_id.in_(self.conversation_ids()))


Where = Callable[[Scope], ColumnElement[bool]]


def _peer_events(scope: Scope) -> ColumnElement[bool]:
    # Reactions and echoes name the person by their id on the channel, not by person id.
    pairs = [
        and_(channel_events.c.channel == p.channel, channel_events.c.peer_id == p.external_id)
        for p in scope.identities
    ]
    return or_(*pairs) if pairs else false()


def _buckets(scope: Scope) -> ColumnElement[bool]:
    return rate_buckets.c.subject.in_([limits.person_subject(p) for p in scope.identities])


# In deletion order: rows that point at others go before the rows they point at.
def _memories(scope: Scope) -> ColumnElement[bool]:
    # Their private memories, and any memory taken from one of their messages.
    return or_(
        memories.c.person_id == scope.person_id, memories.c.message_id.in_(scope.message_ids())
    )


ABOUT_PERSON: dict[str, tuple[Table, Where]] = {
    "memories": (memories, _memories),
    "memory_settings": (memory_settings, lambda s: memory_settings.c.person_id == s.person_id),
    "ratings": (ratings, lambda s: ratings.c.conversation_id.in_(s.conversation_ids())),
    "attachments": (attachments, lambda s: attachments.c.message_id.in_(s.message_ids())),
    "outbox": (outbox, lambda s: outbox.c.conversation_id.in_(s.conversation_ids())),
    "work": (work, lambda s: work.c.conversation_id.in_(s.conversation_ids())),
    "turns": (turns, lambda s: turns.c.conversation_id.in_(s.conversation_ids())),
    "messages": (messages, lambda s: messages.c.conversation_id.in_(s.conversation_ids())),
    # Who was active which day; rollup_daily names no person and stays (anonymous counts).
    "rollup_activity": (
        rollup_activity,
        lambda s: rollup_activity.c.conversation_id.in_(s.conversation_ids()),
    ),
    "rollup_people": (rollup_people, lambda s: rollup_people.c.person_id == s.person_id),
    "rollup_person_days": (
        rollup_person_days,
        lambda s: rollup_person_days.c.person_id == s.person_id,
    ),
    "lore_timers": (lore_timers, lambda s: lore_timers.c.conversation_id.in_(s.conversation_ids())),
    "channel_events": (channel_events, _peer_events),
    "data_requests": (data_requests, lambda s: data_requests.c.person_id == s.person_id),
    "blocklist": (
        blocklist,
        lambda s: and_(blocklist.c.kind == "person", blocklist.c.value == s.person_id),
    ),
    "rate_buckets": (rate_buckets, _buckets),
    "conversations": (conversations, lambda s: conversations.c.person_id == s.person_id),
    "identities": (identities, lambda s: identities.c.person_id == s.person_id),
    "people": (people, lambda s: people.c.id == s.person_id),
}
# Tables that never hold a row about a person (personas, connections, tokens).
NOT_ABOUT_PEOPLE = frozenset(
    {
        "personas",
        "persona_revisions",
        "channel_connections",
        "access_tokens",
        "persona_cards",
        "persona_card_assets",
        # A persona's knowledge base: documents its creator uploaded, about no person.
        "knowledge_documents",
        "knowledge_chunks",
        # Counts per persona, day and metric: no person, no conversation (stores.rollups).
        "rollup_daily",
    }
)
# Stored JSON text shown as data in an export, not as an escaped string.
_JSON_COLUMNS = {
    ("turns", "trace"),
    ("work", "payload"),
    ("outbox", "payload"),
    ("channel_events", "data"),
}
EXPORT_FORMAT = "personae-export/1"


def scope_of(conn: Connection, person_id: str) -> Scope:
    rows = conn.execute(
        select(identities.c.channel, identities.c.external_id).where(
            identities.c.person_id == person_id
        )
    ).all()
    known = conn.execute(select(people.c.id).where(people.c.id == person_id)).first()
    if known is None:
        raise NotFound(
            f"no person {person_id!r}; take person ids from GET /api/conversations (or the "
            "person may have been deleted already)"
        )
    return Scope(person_id, tuple(PersonRef(r.channel, r.external_id) for r in rows))


def _cell(table: str, column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):  # a memory's embedding: float32 values, as stored
        return {"base64": base64.b64encode(value).decode("ascii")}
    if (table, column) in _JSON_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def export_person(conn: Connection, person_id: str) -> dict[str, Any]:
    """Every stored row about the person, table by table, as JSON-ready data."""
    with atomic(conn):  # one snapshot
        scope = scope_of(conn, person_id)
        tables: dict[str, list[dict[str, Any]]] = {}
        for name, (table, where) in reversed(ABOUT_PERSON.items()):
            rows = conn.execute(select(table).where(where(scope))).mappings().all()
            tables[name] = [{k: _cell(name, k, v) for k, v in row.items()} for row in rows]
    return {
        "format": EXPORT_FORMAT,
        "person_id": person_id,
        "exported_at": utcnow().isoformat(),
        "note": "media files are listed under attachments (path, sha256); rate_buckets hold "
        "only digests and counters",
        "tables": tables,
    }


def delete_person(conn: Connection, person_id: str) -> list[str]:
    """Delete every row about the person in one transaction; returns the media files that no
    other message uses any more (the caller removes them once this has committed)."""
    with atomic(conn):
        scope = scope_of(conn, person_id)
        paths = {
            p
            for p in conn.execute(
                select(attachments.c.path).where(ABOUT_PERSON["attachments"][1](scope))
            ).scalars()
            if p
        }
        # A reply points at its message: unhook them so one DELETE can take both.
        conn.execute(
            update(messages)
            .where(messages.c.conversation_id.in_(scope.conversation_ids()))
            .values(reply_to=None)
        )
        for table, where in ABOUT_PERSON.values():
            conn.execute(delete(table).where(where(scope)))
        shared = set(
            conn.execute(select(attachments.c.path).where(attachments.c.path.in_(paths))).scalars()
        )
    return sorted(paths - shared)


# ---------------------------------------------------------------- data requests


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def request_deletion(conn: Connection, person_id: str, valid_s: float) -> datetime:
    """Record a deletion awaiting the person's confirmation; a newer request replaces it."""
    now = utcnow()
    expires = now + timedelta(seconds=valid_s)
    with atomic(conn):
        mine = and_(data_requests.c.person_id == person_id, data_requests.c.action == "delete")
        conn.execute(delete(data_requests).where(mine))
        conn.execute(
            insert(data_requests).values(
                person_id=person_id, action="delete", token_sha256=None, expires_at=expires,
                created_at=now,
            )
        )  # fmt: skip
    return expires


def deletion_pending(conn: Connection, person_id: str) -> bool:
    found = conn.execute(
        select(data_requests.c.id).where(
            data_requests.c.person_id == person_id,
            data_requests.c.action == "delete",
            data_requests.c.expires_at > utcnow(),
        )
    ).first()
    return found is not None


def request_export(conn: Connection, person_id: str, valid_s: float) -> str:
    """A one-off download token for the person's export (only its digest is kept)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with atomic(conn):
        conn.execute(delete(data_requests).where(data_requests.c.expires_at <= now))
        conn.execute(
            insert(data_requests).values(
                person_id=person_id, action="export", token_sha256=token_digest(token),
                expires_at=now + timedelta(seconds=valid_s), created_at=now,
            )
        )  # fmt: skip
    return token


def export_by_token(conn: Connection, token: str) -> dict[str, Any]:
    """The export an unexpired download token stands for; NotFound otherwise."""
    with atomic(conn):
        person_id = conn.execute(
            select(data_requests.c.person_id).where(
                data_requests.c.token_sha256 == token_digest(token),
                data_requests.c.action == "export",
                data_requests.c.expires_at > utcnow(),
            )
        ).scalar()
    if person_id is None:
        raise NotFound("this export link is unknown or expired; send /export again for a new one")
    return export_person(conn, person_id)
