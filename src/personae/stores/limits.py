"""Abuse limits in the database: token buckets and the blocklist, shared by every process.

A bucket is one row; taking a token is one conditional UPDATE that refills by the time since
the last one and succeeds only while a whole token is left, so two web processes (or two
threads) can never both spend the last one: the database serialises the UPDATEs on the row.
On PostgreSQL that transaction commits without waiting for its WAL flush, so a busy number's
row is locked for the UPDATE and commit only, not for a disk write (bench/rate_bucket.py).
Subjects are sha256 digests: the table holds no person's id and no IP address in clear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    bindparam,
    case,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from personae.settings import Settings
from personae.stores.runner import atomic
from personae.stores.tables import blocklist, identities, rate_buckets, utcnow
from personae.types import PersonRef

BLOCK_KINDS = ("person", "ip")


@dataclass(frozen=True, slots=True)
class Bucket:
    """``rate`` tokens per second, up to ``burst`` saved up; ``what`` names it in a refusal."""

    subject: str
    rate: float
    burst: float
    what: str


@dataclass(frozen=True, slots=True)
class Admission:
    """``blocked``: refused for good; else ``retry_after`` > 0 names the wait (over a limit)."""

    blocked: str | None = None
    retry_after: float = 0.0
    what: str = ""


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    value: str
    reason: str
    created_at: datetime


def subject(scope: str, *parts: str) -> str:
    return hashlib.sha256("\x00".join((scope, *parts)).encode("utf-8", "surrogatepass")).hexdigest()


def person_subject(person: PersonRef) -> str:
    return subject("person", person.channel, person.external_id)


def admit(
    conn: Connection,
    buckets: Sequence[Bucket],
    now: float,
    person: PersonRef | None = None,
    ip: str | None = None,
) -> Admission:
    """Check the blocklist, then take one token from every bucket, all or none."""
    if conn.in_transaction():  # the caller's (a webhook's accept in the writer's batch)
        return _admit(conn, buckets, now, person, ip)
    with atomic(conn):  # (its own transaction, here)
        if conn.dialect.name == "postgresql":
            # A bucket row stays locked from its UPDATE until the commit, and every message
            # of a number updates that number's one row: waiting for the commit's WAL flush
            # would hold each one's lock for a disk write. A bucket lost with the last
            # moments before a crash only hands out a few more tokens.
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        return _admit(conn, buckets, now, person, ip)


def _admit(
    conn: Connection,
    buckets: Sequence[Bucket],
    now: float,
    person: PersonRef | None,
    ip: str | None,
) -> Admission:
    why = _blocked(conn, person, ip)
    if why is not None:
        return Admission(blocked=why)
    for taken, bucket in enumerate(buckets):
        wait = _take(conn, bucket, now)
        if wait > 0:
            # The tokens already taken go back. (Not a savepoint: it would cost two
            # statements on every message to spare one on the rare refusal.)
            for earlier in buckets[:taken]:
                conn.execute(_REFUND, {"b_subject": earlier.subject})
            return Admission(retry_after=wait, what=bucket.what)
    return Admission()


def _level() -> ColumnElement[float]:
    """The bucket's tokens now: refilled by the time since its last take, at most its burst."""
    c = rate_buckets.c
    now = bindparam("b_now", type_=Float)
    rate = bindparam("b_rate", type_=Float)
    burst = bindparam("b_burst", type_=Float)
    refilled = c.tokens + case((c.at < now, now - c.at), else_=0.0) * rate
    return case((refilled > burst, burst), else_=refilled)


# Built once: every message (a webhook's too) takes its tokens before it is accepted.
_TAKE = (
    update(rate_buckets)
    .where(rate_buckets.c.subject == bindparam("b_subject"), _level() >= 1.0)
    .values(
        tokens=_level() - 1.0,
        at=case((rate_buckets.c.at < bindparam("b_now"), bindparam("b_now")),
                else_=rate_buckets.c.at),
    )
)  # fmt: skip
# _TAKE left the bucket at its refilled level less one, as of now: one more is that level.
_REFUND = (
    update(rate_buckets)
    .where(rate_buckets.c.subject == bindparam("b_subject"))
    .values(tokens=rate_buckets.c.tokens + 1.0)
)
_LEVEL_OF = select(_level()).where(rate_buckets.c.subject == bindparam("b_subject"))
_PERSON_OF = (
    select(identities.c.person_id)
    .where(
        identities.c.channel == bindparam("b_channel"),
        identities.c.external_id == bindparam("b_external"),
    )
    .scalar_subquery()
)
_BLOCKED_PERSON = select(blocklist.c.kind).where(
    blocklist.c.kind == "person", blocklist.c.value == _PERSON_OF
)


def _take(conn: Connection, bucket: Bucket, now: float) -> float:
    """0 when a token was taken, else the seconds until one will be there."""
    params = {"b_subject": bucket.subject, "b_now": now, "b_rate": bucket.rate,
              "b_burst": bucket.burst}  # fmt: skip
    for _ in range(3):
        taken = conn.execute(_TAKE, params)
        if taken.rowcount == 1:
            return 0.0
        found = conn.execute(_LEVEL_OF, params).scalar()
        if found is not None:
            if float(found) < 1.0:
                return (1.0 - float(found)) / bucket.rate
            continue  # the row appeared (another process's first message): take from it
        # A first message: a full bucket, less this one. When another process created the
        # row meanwhile, the insert does nothing and the UPDATE runs again on that row.
        if bucket.burst >= 1.0 and _insert_new(conn, bucket, now):
            return 0.0
    return 1.0 / bucket.rate


def _insert_new(conn: Connection, bucket: Bucket, now: float) -> bool:
    values = {"subject": bucket.subject, "tokens": bucket.burst - 1.0, "at": now}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(dialect.insert(rate_buckets).values(**values).on_conflict_do_nothing())
    return inserted.rowcount == 1


def _blocked(conn: Connection, person: PersonRef | None, ip: str | None) -> str | None:
    if ip:
        query = select(blocklist.c.kind).where(blocklist.c.kind == "ip", blocklist.c.value == ip)
        kind: str | None = conn.execute(query).scalar()
        if kind is not None:
            return kind
    if person is not None:
        params = {"b_channel": person.channel, "b_external": person.external_id}
        found: str | None = conn.execute(_BLOCKED_PERSON, params).scalar()
        return found
    return None


def add_block(conn: Connection, kind: str, value: str, reason: str) -> Block:
    with atomic(conn):
        conn.execute(delete(blocklist).where(blocklist.c.kind == kind, blocklist.c.value == value))
        now = utcnow()
        conn.execute(
            insert(blocklist).values(kind=kind, value=value, reason=reason, created_at=now)
        )
    return Block(kind, value, reason, now)


def remove_block(conn: Connection, kind: str, value: str) -> bool:
    with atomic(conn):
        gone = conn.execute(
            delete(blocklist).where(blocklist.c.kind == kind, blocklist.c.value == value)
        )
    return gone.rowcount > 0


def list_blocks(conn: Connection) -> list[Block]:
    rows = conn.execute(select(blocklist).order_by(blocklist.c.created_at)).all()
    return [Block(r.kind, r.value, r.reason, r.created_at) for r in rows]


def buckets_for(
    settings: Settings,
    person: PersonRef | None = None,
    ip: str | None = None,
    connection: str | None = None,
) -> list[Bucket]:
    """The buckets a message spends from, by the settings; a rate of 0 is no limit."""
    found = []
    if person is not None and settings.rate_person_per_min > 0:
        rate = settings.rate_person_per_min / 60
        found.append(Bucket(person_subject(person), rate, settings.rate_person_burst, "person"))
    if ip and settings.rate_ip_per_min > 0:
        rate = settings.rate_ip_per_min / 60
        found.append(Bucket(subject("ip", ip), rate, settings.rate_ip_burst, "IP address"))
    if connection and settings.rate_connection_per_min > 0:
        rate = settings.rate_connection_per_min / 60
        burst = settings.rate_connection_burst
        found.append(Bucket(subject("connection", connection), rate, burst, "channel connection"))
    return found
