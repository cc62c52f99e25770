"""The turn's two store steps around the work queue: accept and begin.

accept: one transaction opens the conversation, stores the person's message once and records
its job. begin: one transaction claims the job and reads what the turn needs. The job is
marked done or failed by complete_turn / fail_turn (messages.py), with the turn's result.
Sync functions of a connection outside any transaction (runner.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from personae.errors import PersonaNotFound
from personae.stores.conversations import get_or_create
from personae.stores.limits import Admission, Bucket, admit
from personae.stores.messages import find_inbound, insert_inbound, turn_order
from personae.stores.runner import atomic
from personae.stores.serialize import conversation_ref, stored_message
from personae.stores.tables import conversations, messages, personas, utcnow, work
from personae.types import Accepted, ConversationRef, Job, PersonRef, TurnContext

UNFINISHED = ("pending", "running")


def accept_turn(
    conn: Connection,
    persona_slug: str,
    person: PersonRef,
    text: str,
    external_id: str | None,
    kind: str,
    payload: str,
    allow_unpublished: bool = False,
) -> Accepted:
    # A unique key that trips means a concurrent accept of the same person or message won;
    # the second try, in a fresh transaction, finds its rows.
    args = (persona_slug, person, text, external_id, kind, payload, allow_unpublished)
    try:
        with atomic(conn):
            return _accept(conn, *args)
    except IntegrityError:
        with atomic(conn):
            return _accept(conn, *args)


def admit_and_accept(
    conn: Connection,
    buckets: Sequence[Bucket],
    now: float,
    persona_slug: str,
    person: PersonRef,
    text: str,
    external_id: str | None,
    kind: str,
    payload: str,
    allow_unpublished: bool = False,
) -> tuple[Admission, Accepted | None]:
    """A channel message's whole write in one call, so in one hop and one batch of the SQLite
    writer: the blocklist and the person's rate buckets (limits.admit), then, unless the
    person is blocked, accept_turn. Over a limit the message is still accepted (its turn
    waits: the caller defers it)."""
    admission = admit(conn, buckets, now, person)
    if admission.blocked is not None:
        return admission, None
    args = (persona_slug, person, text, external_id, kind, payload, allow_unpublished)
    return admission, accept_turn(conn, *args)


def _accept(
    conn: Connection,
    persona_slug: str,
    person: PersonRef,
    text: str,
    external_id: str | None,
    kind: str,
    payload: str,
    allow_unpublished: bool,
) -> Accepted:
    # The persona first: a turn that may not see it must leave no conversation behind.
    require_visible(conn, persona_slug, allow_unpublished)
    # The conversation row is locked (PostgreSQL) so that concurrent accepts of one
    # conversation take turns: a redelivery without an id then finds the first copy.
    conversation = get_or_create(conn, persona_slug, person, lock=True)
    now = utcnow()
    found = find_inbound(conn, conversation, text, external_id)
    if found is None:
        message = insert_inbound(conn, conversation, text, external_id, now)
        # A message stored just now has no job yet: no need to look for one.
        job = _insert_job(conn, conversation, message.id, kind, payload, now)
        return Accepted(conversation, message, None, job, new_work=True)
    message, reply = found
    if reply is not None:
        return Accepted(conversation, message, reply, None, new_work=False)
    job, new = _record_job(conn, conversation, message.id, kind, payload, now)
    return Accepted(conversation, message, None, job, new_work=new)


# The accept path's statements are built once: constructing and cache-keying a statement per
# call cost more than SQLite's own work (a webhook's accept is the server's hottest path).
_PUBLISHED = select(personas.c.published).where(
    personas.c.slug == bindparam("slug"), personas.c.deleted_at.is_(None)
)
_JOB_OF = select(work).where(
    work.c.kind == bindparam("kind"), work.c.message_id == bindparam("mid")
)
_NEW_JOB = insert(work)


def require_visible(conn: Connection, slug: str, allow_unpublished: bool) -> None:
    """An unpublished persona is missing unless the caller may see it (the admin)."""
    published = conn.scalar(_PUBLISHED, {"slug": slug})
    if published is None or (not published and not allow_unpublished):
        raise PersonaNotFound(slug)


def _record_job(
    conn: Connection,
    conversation: ConversationRef,
    message_id: int,
    kind: str,
    payload: str,
    now: datetime,
) -> tuple[Job, bool]:
    """The message's job: recorded now, re-opened if it had failed, else the one in flight."""
    found = conn.execute(_JOB_OF, {"kind": kind, "mid": message_id}).first()
    if found is None:
        return _insert_job(conn, conversation, message_id, kind, payload, now), True
    if found.status == "failed":  # a retry of a failed turn runs it again
        conn.execute(
            update(work)
            .where(work.c.id == found.id)
            .values(status="pending", payload=payload, available_at=now, updated_at=now)
        )
        return Job(found.id, kind, conversation.id, message_id, payload, found.created_at), True
    return _job(found), False


def _insert_job(
    conn: Connection,
    conversation: ConversationRef,
    message_id: int,
    kind: str,
    payload: str,
    now: datetime,
) -> Job:
    values = _new_job(conversation.id, message_id, kind, payload, now)
    key = conn.execute(_NEW_JOB, values).inserted_primary_key
    assert key is not None
    return Job(int(key[0]), kind, conversation.id, message_id, payload, now)


def _new_job(
    conversation_id: str, message_id: int, kind: str, payload: str, now: datetime
) -> dict[str, Any]:
    return {
        "kind": kind,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "available_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _job(row: Row[Any]) -> Job:
    return Job(row.id, row.kind, row.conversation_id, row.message_id, row.payload, row.created_at)


def begin_turn(conn: Connection, job: Job, history_limit: int) -> TurnContext:
    now = utcnow()
    with atomic(conn):
        claimed = conn.execute(
            update(work)
            .where(work.c.id == job.id, work.c.status.in_(UNFINISHED))
            .values(status="running", attempts=work.c.attempts + 1, updated_at=now)
        ).rowcount
        state = conn.execute(
            select(work.c.status, work.c.attempts, work.c.last_error).where(work.c.id == job.id)
        ).one()
        conversation = conversation_ref(
            conn.execute(
                select(conversations).where(conversations.c.id == job.conversation_id)
            ).one()
        )
        message = stored_message(
            conn.execute(select(messages).where(messages.c.id == job.message_id)).one()
        )
        if not claimed:
            reply = _reply_to(conn, job.message_id)
            return TurnContext(
                conversation, message, state.status, reply=reply, error=state.last_error
            )
        history = _history_before(conn, job.conversation_id, job.message_id, history_limit)
    return TurnContext(conversation, message, "running", history, state.attempts)


def _reply_to(conn: Connection, message_id: int) -> Any:
    row = conn.execute(select(messages).where(messages.c.reply_to == message_id)).first()
    return stored_message(row) if row is not None else None


def _history_before(conn: Connection, conversation_id: str, message_id: int, limit: int) -> Any:
    """Messages before this one, with the replies to them stored after it arrived (a burst of
    messages is accepted before the first is answered); each reply right after its message."""
    earlier = (messages.c.id < message_id) | (messages.c.reply_to < message_id)
    query = (
        select(messages)
        .where(messages.c.conversation_id == conversation_id, earlier)
        .order_by(messages.c.id.desc())
        .limit(max(limit, 0))
    )
    rows = sorted(conn.execute(query).all(), key=turn_order)
    return tuple(stored_message(row) for row in rows)


def work_backlog(conn: Connection) -> dict[str, tuple[int, datetime | None]]:
    """Unfinished jobs by kind: how many, and when the oldest was recorded (for /metrics)."""
    query = (
        select(work.c.kind, func.count(), func.min(work.c.created_at))
        .where(work.c.status.in_(UNFINISHED))
        .group_by(work.c.kind)
    )
    return {kind: (count, oldest) for kind, count, oldest in conn.execute(query).all()}


def unfinished_work(conn: Connection, kinds: Sequence[str]) -> list[Job]:
    """Jobs recorded and not yet done or failed, in arrival order."""
    query = (
        select(work)
        .where(work.c.status.in_(UNFINISHED), work.c.kind.in_(list(kinds)))
        .order_by(work.c.message_id, work.c.id)
    )
    return [_job(row) for row in conn.execute(query).all()]


# ---------------------------------------------------------------- after-turn work


def record_job(
    conn: Connection, conversation_id: str, message_id: int, kind: str, payload: str
) -> Job:
    """Record a job of another kind for a message (after-turn work such as memory), once."""
    with atomic(conn):
        conversation = conversation_ref(
            conn.execute(select(conversations).where(conversations.c.id == conversation_id)).one()
        )
        job, _ = _record_job(conn, conversation, message_id, kind, payload, utcnow())
        return job


def claim_job(conn: Connection, job_id: int) -> bool:
    """Mark a job running (one more attempt); False when it is already done or failed."""
    with atomic(conn):
        return bool(
            conn.execute(
                update(work)
                .where(work.c.id == job_id, work.c.status.in_(UNFINISHED))
                .values(status="running", attempts=work.c.attempts + 1, updated_at=utcnow())
            ).rowcount
        )


def settle_job(conn: Connection, job_id: int, error: str | None) -> None:
    """Mark a job done, or failed with ``error``."""
    with atomic(conn):
        conn.execute(
            update(work)
            .where(work.c.id == job_id)
            .values(status="failed" if error else "done", last_error=error, updated_at=utcnow())
        )


# ---------------------------------------------------------------- the cluster's queue

PARKED = "parked after"  # how a parked job's last_error starts (failed, so a resend re-opens it)


def backlog(conn: Connection, conversation_id: str, kind: str, upto_message_id: int) -> list[Any]:
    """The conversation's unfinished jobs of ``kind`` up to this message, in arrival order,
    each as (job, attempts, last_error): what a worker holding the conversation runs first."""
    query = (
        select(work)
        .where(
            work.c.conversation_id == conversation_id,
            work.c.kind == kind,
            work.c.status.in_(UNFINISHED),
            work.c.message_id <= upto_message_id,
        )
        .order_by(work.c.message_id, work.c.id)
    )
    return [(_job(row), row.attempts, row.last_error) for row in conn.execute(query).all()]


def note_error(conn: Connection, job_id: int, error: str) -> None:
    """Keep why an attempt ended without a result (the job stays unfinished, to run again)."""
    with atomic(conn):
        conn.execute(
            update(work)
            .where(work.c.id == job_id, work.c.status.in_(UNFINISHED))
            .values(last_error=error, updated_at=utcnow())
        )


def park_job(conn: Connection, job_id: int, attempts: int, error: str | None) -> bool:
    """Fail an unfinished job that used up its attempts, with why; False if it had finished."""
    why = error or "each attempt ended without a result (the worker died or was stopped)"
    with atomic(conn):
        return bool(
            conn.execute(
                update(work)
                .where(work.c.id == job_id, work.c.status.in_(UNFINISHED))
                .values(
                    status="failed",
                    last_error=f"{PARKED} {attempts} attempts: {why}",
                    updated_at=utcnow(),
                )
            ).rowcount
        )


def parked_jobs(conn: Connection, limit: int) -> list[Any]:
    """Parked jobs, newest first, as (job, attempts, last_error, updated_at)."""
    query = (
        select(work)
        .where(work.c.status == "failed", work.c.last_error.startswith(PARKED))
        .order_by(work.c.updated_at.desc(), work.c.id.desc())
        .limit(limit)
    )
    rows = conn.execute(query).all()
    return [(_job(row), row.attempts, row.last_error, row.updated_at) for row in rows]


def stale_work(conn: Connection, kinds: Sequence[str], before: datetime, limit: int) -> list[Job]:
    """Unfinished jobs untouched since ``before``: ones whose queue entry may be gone (the
    queue was down between accept and submit), submitted again (a duplicate is a no-op)."""
    query = (
        select(work)
        .where(
            work.c.status.in_(UNFINISHED),
            work.c.kind.in_(list(kinds)),
            work.c.updated_at < before,
        )
        .order_by(work.c.message_id, work.c.id)
        .limit(limit)
    )
    return [_job(row) for row in conn.execute(query).all()]


def pending_work(conn: Connection) -> int:
    """Jobs recorded and not yet started: the queue's depth."""
    query = select(func.count()).select_from(work).where(work.c.status == "pending")
    return int(conn.scalar(query) or 0)


def ping(conn: Connection) -> bool:
    return conn.scalar(select(literal(1))) == 1


def turn_outcomes(
    conn: Connection, message_ids: Sequence[int]
) -> dict[int, tuple[Any, str | None]]:
    """The ended turns among these messages: for each, its reply (None when it failed) and
    its error. Turns still pending or running, and done ones without a stored reply, are
    left out."""
    ended = conn.execute(
        select(work.c.message_id, work.c.status, work.c.last_error).where(
            work.c.message_id.in_(list(message_ids)),
            work.c.kind == "turn",
            work.c.status.not_in(UNFINISHED),
        )
    ).all()
    if not ended:
        return {}
    replies = {
        row.reply_to: stored_message(row)
        for row in conn.execute(
            select(messages).where(messages.c.reply_to.in_([r.message_id for r in ended]))
        )
    }
    return {
        r.message_id: (replies.get(r.message_id) if r.status == "done" else None, r.last_error)
        for r in ended
        if r.status != "done" or r.message_id in replies
    }
