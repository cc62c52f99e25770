"""The schema as SQLAlchemy Core tables: the one source the migrations and the queries share.

Portable SQL only: the same tables run on SQLite and PostgreSQL. Integer ids use BIGINT on
PostgreSQL and INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Alembic keeps its own bookkeeping in this table (not `alembic_version`), so personae can
# share a database with another Alembic-managed application.
VERSION_TABLE = "personae_schema_version"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; pass an aware UTC one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


Id = BigInteger().with_variant(Integer(), "sqlite")
HEX_ID = 32  # uuid4().hex

metadata = MetaData(naming_convention=NAMING)

personas = Table(
    "personas",
    metadata,
    Column("slug", String(64), primary_key=True),
    Column("current_revision", Integer, nullable=False),
    Column("published", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("deleted_at", UtcDateTime, nullable=True),
    # The revision turns serve (r0012); later revisions are drafts until published. NULL for
    # a persona made as a draft and never published: its newest revision is what a test runs.
    Column("published_revision", Integer, nullable=True),
)

persona_revisions = Table(
    "persona_revisions",
    metadata,
    Column("slug", String(64), ForeignKey("personas.slug"), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("spec", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

people = Table(
    "people",
    metadata,
    Column("id", String(HEX_ID), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("external_id", String(255), primary_key=True),
    Column("person_id", String(HEX_ID), ForeignKey("people.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(HEX_ID), primary_key=True),
    Column("persona_slug", String(64), ForeignKey("personas.slug"), nullable=False),
    Column("person_id", String(HEX_ID), ForeignKey("people.id"), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("persona_slug", "person_id", "channel"),
    Index("ix_conversations_persona_updated", "persona_slug", "updated_at"),
    Index("ix_conversations_person_updated", "person_id", "updated_at"),
    Index("ix_conversations_updated", "updated_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", String(HEX_ID), ForeignKey("conversations.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("external_id", String(255), nullable=True),
    # One reply per inbound message: a second completion of the same message is refused.
    Column("reply_to", Id, ForeignKey("messages.id"), nullable=True, unique=True),
    Column("persona_revision", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Set when the person deleted the message on their channel; it stays, for the record.
    Column("deleted_at", UtcDateTime, nullable=True),
    # A sender's message id is unique within their conversation only: another conversation
    # may reuse it (ids are guessable) and must never see this one's reply. NULL ids never
    # collide (both backends treat NULLs as distinct).
    UniqueConstraint("conversation_id", "external_id"),
    Index("ix_messages_conversation_id", "conversation_id", "id"),
    Index("ix_messages_created_at", "created_at"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", String(HEX_ID), ForeignKey("conversations.id"), nullable=False),
    Column("inbound_message_id", Id, ForeignKey("messages.id"), nullable=False, index=True),
    Column("reply_message_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("persona_revision", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("trace", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Figures copied out of the trace for analytics (r0012), so a period is summed in SQL
    # without reading each trace: milliseconds, tokens, and the guards' categories
    # (comma-separated codes of the verdicts that did not allow).
    Column("latency_ms", Float, nullable=True),
    Column("ttft_ms", Float, nullable=True),
    Column("tokens", Integer, nullable=True),
    Column("categories", String(255), nullable=True),
    Index("ix_turns_conversation_id", "conversation_id", "id"),
    Index("ix_turns_created_at", "created_at"),
)

# A person's rating of one reply (thumbs up +1, down -1), from the web chat or a channel's
# reaction; the latest rating of a reply replaces the earlier one.
ratings = Table(
    "ratings",
    metadata,
    Column("message_id", Id, ForeignKey("messages.id"), primary_key=True),
    Column("conversation_id", String(HEX_ID), ForeignKey("conversations.id"), nullable=False),
    Column("persona_slug", String(64), ForeignKey("personas.slug"), nullable=False),
    Column("value", Integer, nullable=False),
    Column("source", String(64), nullable=False),  # web, or the channel of the reaction
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_ratings_persona_created", "persona_slug", "created_at"),
)

# Rollups for analytics, written in the transaction of each message and turn (stores.rollups)
# and backfilled by r0014, so a period is read without scanning messages. Days are UTC
# 'YYYY-MM-DD' text. rollup_daily: counts per persona, day and metric (messages, replies,
# turns:<status>, tokens, category:<code>, latency:<bucket>, ttft:<bucket>); it names no
# person, so it outlives a person's deletion as an anonymous count.
rollup_daily = Table(
    "rollup_daily",
    metadata,
    Column("persona_slug", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
    # Every persona's period is read by day (covering: the sums come from the index alone).
    Index("ix_rollup_daily_day", "day", "metric", "value"),
)

# Who was active when: one row per conversation and day (user messages, other messages),
# deleted with the person (people.ABOUT_PERSON).
rollup_activity = Table(
    "rollup_activity",
    metadata,
    Column("conversation_id", String(HEX_ID), ForeignKey("conversations.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("persona_slug", String(64), nullable=False),
    Column("person_id", String(HEX_ID), nullable=False),
    Column("messages", Integer, nullable=False),
    Column("replies", Integer, nullable=False),
    # Covering: a period's activity is read from the index alone.
    Index(
        "ix_rollup_activity_persona_day",
        "persona_slug",
        "day",
        "messages",
        "person_id",
        "conversation_id",
    ),
)

# Each person's first and last day of writing to a persona: retention without a scan.
# persona_slug '' (no persona has it) is the person's span over every persona; its upsert
# also takes the person's row lock before rollup_person_days is written. Deleted with the
# person.
ALL_PERSONAS = ""
rollup_people = Table(
    "rollup_people",
    metadata,
    Column("persona_slug", String(64), primary_key=True),
    Column("person_id", String(HEX_ID), ForeignKey("people.id"), primary_key=True),
    Column("first_day", String(10), nullable=False),
    Column("last_day", String(10), nullable=False),
)

# The days each person wrote (to any persona), each with the person's previous such day, so
# the distinct people of any span of days are counted without DISTINCT: a person is counted
# in [a, b] on the one row there whose prev_day is before a (or NULL). Deleted with the person.
rollup_person_days = Table(
    "rollup_person_days",
    metadata,
    Column("person_id", String(HEX_ID), ForeignKey("people.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("prev_day", String(10), nullable=True),
    # Covering: a period's people are counted from the index alone, in day order.
    Index("ix_rollup_person_days_day", "day", "prev_day"),
)

# Connections added through the API or CLI (the channels file is never copied here). `fields`
# is a JSON object of the entry's keys as given: secrets as `env:NAME` or literal values.
channel_connections = Table(
    "channel_connections",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("account_key", String(64), primary_key=True),
    Column("persona_slug", String(64), ForeignKey("personas.slug"), nullable=False),
    Column("fields", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Work recorded by accept and run by the work queue: one job per (kind, message), so a
# redelivered message never makes a second one. Done or failed is written in the same
# transaction as the job's result.
work = Table(
    "work",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("conversation_id", String(HEX_ID), ForeignKey("conversations.id"), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending, running, done, failed
    Column("attempts", Integer, nullable=False),
    Column("available_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("kind", "message_id"),
    Index("ix_work_status_available", "status", "available_at"),
)

# Replies on their way to a messaging channel, written with the reply itself (complete_turn);
# a delivery worker sends them, retrying, and records the platform's message id.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", String(HEX_ID), ForeignKey("conversations.id"), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False, index=True),
    Column("channel", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending, sending, sent, failed
    Column("attempts", Integer, nullable=False),
    Column("available_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("platform_message_id", String(255), nullable=True, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # What the platform reported after the send (r0006_delivery).
    Column("recipient", String(255), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("delivery_status", String(16), nullable=True),  # sent, delivered, read, failed
    Column("sent_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("read_at", UtcDateTime, nullable=True),
    Index("ix_outbox_status_available", "status", "available_at"),
    Index("ix_outbox_conversation_id", "conversation_id", "id"),
)

# A person's media files: fetched after accept, stored by content hash under the data folder.
attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("mime_type", String(255), nullable=True),
    Column("size", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("path", Text, nullable=True),
    Column("original_ref", Text, nullable=False),
    Column("status", String(16), nullable=False),  # ok, refused, failed
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("transcript", Text, nullable=True),  # what speech-to-text heard (voice notes)
    UniqueConstraint("message_id", "position"),
)

# Reactions and echoes a channel reported: state for the record, never a turn.
channel_events = Table(
    "channel_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # reaction, echo
    Column("channel", String(64), nullable=False),  # "<kind>:<connection key>"
    Column("platform_message_id", String(255), nullable=False),
    Column("peer_id", String(255), nullable=False),
    Column("data", Text, nullable=False),  # JSON: {"emoji": ...} or {"text": ...}
    Column("at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_channel_events_message", "channel", "platform_message_id"),
)

# Tokens for the admin and creator endpoints (`personae token create`): only a sha256 of each
# high-entropy token is kept, so a leaked database does not leak a working token.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(HEX_ID), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # admin, creator
    Column("personas", Text, nullable=False),  # JSON list of slugs a creator may touch
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

# Token buckets of the abuse limits, shared by every web process through the database. The
# subject is a sha256 of what is limited (a person, an IP, a connection), never the value.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False),  # unix seconds of the last update
)

# People and IPs an admin blocked: their messages are refused (HTTP 403; webhooks: dropped).
blocklist = Table(
    "blocklist",
    metadata,
    Column("kind", String(16), primary_key=True),  # person, ip
    Column("value", String(255), primary_key=True),  # a person id or an IP address
    Column("reason", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# A person's pending data requests: a deletion waiting for its confirmation, an export link.
data_requests = Table(
    "data_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person_id", String(HEX_ID), ForeignKey("people.id"), nullable=False, index=True),
    Column("action", String(16), nullable=False),  # delete, export
    Column("token_sha256", String(64), nullable=True, unique=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Lorebook timed effects per conversation (sticky, cooldown): chat positions, see types/lore.py.
lore_timers = Table(
    "lore_timers",
    metadata,
    Column("conversation_id", String(HEX_ID), ForeignKey("conversations.id"), primary_key=True),
    Column("entry", String(255), primary_key=True),
    Column("activated_at", Integer, nullable=False),
    Column("sticky_end", Integer, nullable=False),
    Column("cooldown_end", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The Character Card a persona was imported from, as it came: export starts from it, so fields
# personae does not model (unknown extensions, V3-only keys) come back unchanged. `imported` is
# the persona spec the import produced: a field still equal to it is exported as the original.
persona_cards = Table(
    "persona_cards",
    metadata,
    Column("slug", String(64), ForeignKey("personas.slug"), primary_key=True),
    Column("card", Text, nullable=False),
    Column("imported", Text, nullable=False),
    Column("image", LargeBinary, nullable=True),  # the PNG without its card chunks
    Column("created_at", UtcDateTime, nullable=False),
)

# Files of a CHARX card (assets/...), kept for export.
persona_card_assets = Table(
    "persona_card_assets",
    metadata,
    Column("slug", String(64), ForeignKey("personas.slug"), primary_key=True),
    Column("path", String(512), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# What a persona remembers about a person (memory/): facts, raw messages kept recallable
# (episodes) and summaries, each with where it came from and when it was said. A newer fact
# in the same slot (`key`) retires the older one (retired_at, superseded_by); forgetting
# deletes rows. Lexical search: an FTS5 table (SQLite) or a full-text index (PostgreSQL),
# made by r0008; `embedding` is the float32 vector of `text`.
memories = Table(
    "memories",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("persona_slug", String(64), ForeignKey("personas.slug"), nullable=False),
    Column("person_id", String(HEX_ID), ForeignKey("people.id"), nullable=True),
    Column("scope", String(16), nullable=False),  # person, persona
    Column("kind", String(16), nullable=False),  # fact, episode, summary
    Column("text", Text, nullable=False),
    Column("key", String(128), nullable=True),
    Column("importance", Float, nullable=False),
    Column("message_id", Id, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    Column("said_at", UtcDateTime, nullable=False),
    Column("refers_to", UtcDateTime, nullable=True),
    Column("embedding", LargeBinary, nullable=False),
    Column("retired_at", UtcDateTime, nullable=True),
    Column("superseded_by", Id, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_memories_owner", "person_id", "persona_slug", "id"),
    Index("ix_memories_persona_scope", "persona_slug", "scope"),
)

# A person's memory choices per persona; `version` grows with every change to their
# memories, so a process may cache their vectors and notice when they are stale.
memory_settings = Table(
    "memory_settings",
    metadata,
    Column("person_id", String(HEX_ID), ForeignKey("people.id"), primary_key=True),
    Column("persona_slug", String(64), ForeignKey("personas.slug"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("share", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# A persona's knowledge base: documents its creator uploaded, cut into chunks that a turn
# recalls the way memories are (full text plus stored vectors); see personae.knowledge.
knowledge_documents = Table(
    "knowledge_documents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("persona_slug", String(64), ForeignKey("personas.slug"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("media_type", String(64), nullable=False),
    Column("size", Integer, nullable=False),  # bytes uploaded
    Column("sha256", String(64), nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_knowledge_documents_persona", "persona_slug", "id"),
)

knowledge_chunks = Table(
    "knowledge_chunks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "document_id", Id, ForeignKey("knowledge_documents.id", ondelete="CASCADE"), nullable=False
    ),
    Column("persona_slug", String(64), ForeignKey("personas.slug"), nullable=False),
    Column("position", Integer, nullable=False),  # within its document
    Column("heading", Text, nullable=False),  # the section it sits under ("" if none)
    Column("text", Text, nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Index("ix_knowledge_chunks_persona", "persona_slug", "id"),
    Index("ix_knowledge_chunks_document", "document_id"),
)

# Full-text objects r0010 and r0011 made outside this metadata (SQLite's FTS5 tables and
# their shadow tables, PostgreSQL's expression indexes), dropped by r0016 and r0017 (search
# runs in the process): a schema comparison of an older database skips names starting so.
FULL_TEXT_NAMES = ("memories_fts", "ix_memories_fts", "knowledge_fts", "ix_knowledge_fts")
