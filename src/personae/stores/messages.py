"""Messages and turns: inbound stored once; a reply and its trace stored together.

Sync functions of a connection outside any transaction (runner.py); each write opens its own,
and after an IntegrityError looks again in a fresh one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from personae.stores import rollups
from personae.stores.conversations import require_conversation
from personae.stores.runner import atomic
from personae.stores.serialize import stored_message, trace_to_json, turn_record
from personae.stores.tables import conversations, messages, outbox, turns, utcnow, work
from personae.types import ConversationRef, OutboxItem, StoredMessage, Trace, TurnRecord

_replies = messages.alias("replies")
_reply_columns = [c.label(f"reply_{c.name}") for c in _replies.c]
# Built once: the accept path runs these per message.
_BY_EXTERNAL_ID = (
    select(messages, *_reply_columns)
    .outerjoin(_replies, _replies.c.reply_to == messages.c.id)
    .where(
        messages.c.conversation_id == bindparam("cid"),
        messages.c.external_id == bindparam("xid"),
    )
)
_TOUCH = (
    update(conversations)
    .where(conversations.c.id == bindparam("cid"))
    .values(updated_at=bindparam("now"))
)
_INSERT = insert(messages)


def history(conn: Connection, conversation_id: str, limit: int) -> list[StoredMessage]:
    query = (
        select(messages)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(messages.c.id.desc())
        .limit(max(limit, 0))
    )
    rows = conn.execute(query).all()
    if not rows:
        require_conversation(conn, conversation_id)
    return [stored_message(row) for row in reversed(rows)]


def all_messages(conn: Connection, conversation_id: str) -> list[StoredMessage]:
    query = select(messages).where(messages.c.conversation_id == conversation_id)
    rows = sorted(conn.execute(query).all(), key=turn_order)
    if not rows:
        require_conversation(conn, conversation_id)
    return [stored_message(row) for row in rows]


def turn_order(row: Row[Any]) -> tuple[int, int]:
    """Each reply right after the message it answers: a burst of messages is stored before
    the first reply, yet reads as the exchanges it was."""
    return (row.reply_to or row.id, row.id)


def add_inbound(
    conn: Connection, conversation: ConversationRef, text: str, external_id: str | None
) -> tuple[StoredMessage, StoredMessage | None]:
    """Store a person's message once (without recording work): see find_inbound."""
    try:
        with atomic(conn):
            found = find_inbound(conn, conversation, text, external_id)
            if found is not None:
                return found
            return insert_inbound(conn, conversation, text, external_id, utcnow()), None
    except IntegrityError:
        with atomic(conn):
            found = find_inbound(conn, conversation, text, external_id)
            if found is None:
                require_conversation(conn, conversation.id)
                raise
            return found


def find_inbound(
    conn: Connection, conversation: ConversationRef, text: str, external_id: str | None
) -> tuple[StoredMessage, StoredMessage | None] | None:
    """The stored copy of this message and its reply, if it was stored before: the same id in
    this conversation (another conversation's same id is their own message), or without an id
    the conversation's latest message when it is this very text, still unanswered (a retry)."""
    if external_id is not None:
        row = conn.execute(_BY_EXTERNAL_ID, {"cid": conversation.id, "xid": external_id}).first()
        return _pair(row)
    latest = (
        select(messages)
        .where(messages.c.conversation_id == conversation.id)
        .order_by(messages.c.id.desc())
        .limit(1)
    )
    row = conn.execute(latest).first()
    if row is not None and row.role == "user" and row.content == text:
        return stored_message(row), None  # it is the latest, so no reply can follow it yet
    return None


def _with_reply(
    conn: Connection, where: ColumnElement[bool]
) -> tuple[StoredMessage, StoredMessage | None] | None:
    query = (
        select(messages, *_reply_columns)
        .outerjoin(_replies, _replies.c.reply_to == messages.c.id)
        .where(where)
    )
    return _pair(conn.execute(query).first())


def _pair(row: Row[Any] | None) -> tuple[StoredMessage, StoredMessage | None] | None:
    if row is None:
        return None
    reply = stored_message(row, prefix="reply_") if row.reply_id is not None else None
    return stored_message(row), reply


def insert_inbound(
    conn: Connection,
    conversation: ConversationRef,
    text: str,
    external_id: str | None,
    now: datetime,
) -> StoredMessage:
    message_id = _insert_message(conn, conversation, "user", text, now, external_id)
    _touch(conn, conversation.id, now)
    return StoredMessage(message_id, conversation.id, "user", text, now, external_id)


def _insert_message(
    conn: Connection,
    conversation: ConversationRef,
    role: str,
    text: str,
    now: datetime,
    external_id: str | None = None,
    **extra: Any,
) -> int:
    values = {
        "conversation_id": conversation.id, "role": role, "content": text,
        "channel": conversation.channel, "external_id": external_id, "created_at": now, **extra,
    }  # fmt: skip
    result = conn.execute(_INSERT, values)
    key = result.inserted_primary_key
    assert key is not None
    rollups.count_message(
        conn, conversation.id, conversation.persona_id, conversation.person_id, role, now
    )
    return int(key[0])


def _touch(conn: Connection, conversation_id: str, now: datetime) -> None:
    conn.execute(_TOUCH, {"cid": conversation_id, "now": now})


def complete_turn(
    conn: Connection,
    conversation: ConversationRef,
    inbound: StoredMessage,
    reply_text: str,
    persona_revision: int,
    trace: Trace,
    job_id: int | None = None,
    outbox_items: Sequence[OutboxItem] = (),
) -> tuple[StoredMessage, TurnRecord]:
    """Reply, turn, the job marked done and the reply's outbox entries: one transaction."""
    now, trace_json = utcnow(), trace_to_json(trace)
    try:
        with atomic(conn):
            _touch(conn, conversation.id, now)
            reply_id = _insert_message(
                conn,
                conversation,
                "assistant",
                reply_text,
                now,
                reply_to=inbound.id,
                persona_revision=persona_revision,
            )
            turn_id = _insert_turn(
                conn,
                conversation,
                inbound.id,
                reply_id,
                persona_revision,
                trace.status,
                trace_json,
                now,
                turn_figures(trace),
            )
            _finish_job(conn, job_id, "done", None, now)
            _add_outbox(conn, conversation.id, reply_id, outbox_items, now)
    except IntegrityError:
        # The inbound message already has its reply (messages.reply_to is unique): the first
        # wins, and its own transaction marked the job done and wrote the outbox.
        earlier = _completed(conn, inbound.id)
        if earlier is None:
            require_conversation(conn, conversation.id)
            raise
        return earlier
    reply = StoredMessage(
        reply_id, conversation.id, "assistant", reply_text, now, None, persona_revision
    )
    turn = TurnRecord(
        turn_id, conversation.id, inbound.id, reply_id, persona_revision, trace.status, trace, now
    )
    return reply, turn


def fail_turn(
    conn: Connection,
    conversation: ConversationRef,
    inbound: StoredMessage,
    persona_revision: int | None,
    trace: Trace,
    job_id: int | None = None,
) -> TurnRecord | None:
    """The failed turn (when a persona revision answered) and the job marked failed with the
    trace's error, together; the inbound message stays, awaiting a retry."""
    now = utcnow()
    turn_id = None
    try:
        with atomic(conn):
            if persona_revision is not None:
                turn_id = _insert_turn(
                    conn,
                    conversation,
                    inbound.id,
                    None,
                    persona_revision,
                    "failed",
                    trace_to_json(trace),
                    now,
                    turn_figures(trace),
                )
            _finish_job(conn, job_id, "failed", trace.error, now)
    except IntegrityError:
        require_conversation(conn, conversation.id)
        raise
    if turn_id is None or persona_revision is None:
        return None
    return TurnRecord(
        turn_id, conversation.id, inbound.id, None, persona_revision, "failed", trace, now
    )


def _finish_job(
    conn: Connection, job_id: int | None, status: str, error: str | None, now: datetime
) -> None:
    if job_id is not None:
        conn.execute(
            update(work)
            .where(work.c.id == job_id)
            .values(status=status, last_error=error, updated_at=now)
        )


def _add_outbox(
    conn: Connection,
    conversation_id: str,
    reply_id: int,
    items: Sequence[OutboxItem],
    now: datetime,
) -> None:
    if not items:
        return
    rows = [
        {
            "conversation_id": conversation_id,
            "message_id": reply_id,
            "channel": item.channel,
            "payload": item.payload,
            "status": "pending",
            "attempts": 0,
            "available_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for item in items
    ]
    conn.execute(insert(outbox), rows)


def turn_figures(trace: Trace) -> dict[str, object]:
    """What analytics sums of a turn, kept in columns beside its trace (r0012)."""
    codes = sorted({c for v in trace.verdicts if not v.allowed for c in v.categories})
    return {
        "latency_ms": trace.timings.done_ms,
        "ttft_ms": trace.timings.first_token_ms,
        "tokens": trace.usage.total_tokens,
        "categories": ",".join(codes)[:255] or None,
    }


def _insert_turn(
    conn: Connection,
    conversation: ConversationRef,
    inbound_id: int,
    reply_id: int | None,
    persona_revision: int,
    status: str,
    trace_json: str,
    now: datetime,
    figures: dict[str, object],
) -> int:
    result = conn.execute(
        insert(turns).values(
            conversation_id=conversation.id,
            inbound_message_id=inbound_id,
            reply_message_id=reply_id,
            persona_revision=persona_revision,
            status=status,
            trace=trace_json,
            created_at=now,
            **figures,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    rollups.count_turn(conn, conversation.persona_id, now, {"status": status, **figures})
    return int(key[0])


def _completed(conn: Connection, inbound_id: int) -> tuple[StoredMessage, TurnRecord] | None:
    query = select(messages).where(messages.c.reply_to == inbound_id)
    reply_row = conn.execute(query).first()
    if reply_row is None:
        return None
    turn_query = select(turns).where(
        turns.c.inbound_message_id == inbound_id, turns.c.reply_message_id == reply_row.id
    )
    turn_row = conn.execute(turn_query).one()
    return stored_message(reply_row), turn_record(turn_row)


def conversation_turns(conn: Connection, conversation_id: str) -> list[TurnRecord]:
    query = select(turns).where(turns.c.conversation_id == conversation_id).order_by(turns.c.id)
    rows = conn.execute(query).all()
    if not rows:
        require_conversation(conn, conversation_id)
    return [turn_record(row) for row in rows]


def safety_counts(conn: Connection, persona_slug: str) -> dict[str, int]:
    """Turns of the persona's conversations by status: the incident counters a creator sees
    (counts only; no message content)."""
    query = (
        select(turns.c.status, func.count())
        .select_from(turns.join(conversations, conversations.c.id == turns.c.conversation_id))
        .where(conversations.c.persona_slug == persona_slug)
        .group_by(turns.c.status)
    )
    counts = {status: 0 for status in ("ok", "refused", "crisis", "blocked", "rewritten", "failed")}
    counts.update({row[0]: int(row[1]) for row in conn.execute(query)})
    return counts
