"""Analytics rollups: counts added in the same transaction as each message and turn.

A period's analytics then reads at most one row per persona, day and metric (rollup_daily),
one per conversation and day (rollup_activity) and, over every persona, one per person and
day (rollup_person_days) instead of every message. Latency and
time to first token go into fixed buckets 10% wide, so p50/p95 are a bucket's upper bound
(within 10% of the exact nearest rank). Upserts run in key order so two transactions take
the row locks of one persona-day in the same order (PostgreSQL).
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from personae.stores.tables import (
    ALL_PERSONAS,
    conversations,
    messages,
    rollup_activity,
    rollup_daily,
    rollup_people,
    rollup_person_days,
    turns,
)

# Upper bounds in ms: 1 ms, then 10% wider each, up to about an hour; beyond goes last.
BOUNDS: tuple[float, ...] = tuple(round(1.1**i, 3) for i in range(161))


def bucket(ms: float) -> int:
    return min(bisect.bisect_left(BOUNDS, ms), len(BOUNDS) - 1)


def day_of(at: datetime) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def turn_metrics(
    status: str,
    latency_ms: float | None,
    ttft_ms: float | None,
    tokens: int | None,
    categories: str | None,
) -> Counter[str]:
    """What one turn adds to its persona's day."""
    out: Counter[str] = Counter({f"turns:{status}": 1})
    if tokens:
        out["tokens"] += int(tokens)
    for code in (categories or "").split(","):
        if code:
            out[f"category:{code}"] += 1
    # As the raw figures did: timings of turns that answered only.
    if status != "failed" and latency_ms is not None:
        out[f"latency:{bucket(latency_ms)}"] += 1
        if ttft_ms is not None:
            out[f"ttft:{bucket(ttft_ms)}"] += 1
    return out


def count_message(
    conn: Connection, conversation_id: str, persona: str, person_id: str, role: str, at: datetime
) -> None:
    day = day_of(at)
    user = role == "user"
    add_daily(conn, {(persona, day, "replies" if role == "assistant" else "messages"): 1})
    add_activity(conn, {(conversation_id, day, persona, person_id): (int(user), int(not user))})
    if user:
        # The every-persona span first: its row lock orders this person's writers (PostgreSQL)
        # so the day's previous day below is read after any other's is committed.
        add_people(conn, {(ALL_PERSONAS, person_id): (day, day), (persona, person_id): (day, day)})
        add_person_day(conn, person_id, day)


def count_turn(conn: Connection, persona: str, at: datetime, figures: Mapping[str, Any]) -> None:
    metrics = turn_metrics(
        figures["status"],
        figures.get("latency_ms"),
        figures.get("ttft_ms"),
        figures.get("tokens"),
        figures.get("categories"),
    )
    day = day_of(at)
    add_daily(conn, {(persona, day, metric): n for metric, n in metrics.items()})


def add_daily(conn: Connection, counts: Mapping[tuple[str, str, str], int]) -> None:
    rows = [
        {"persona_slug": p, "day": d, "metric": m, "value": n}
        for (p, d, m), n in sorted(counts.items())
        if n
    ]
    _upsert(conn, rollup_daily, ("persona_slug", "day", "metric"), ("value",), rows)


def add_activity(
    conn: Connection, counts: Mapping[tuple[str, str, str, str], tuple[int, int]]
) -> None:
    rows = [
        {"conversation_id": c, "day": d, "persona_slug": p,
         "person_id": who, "messages": m, "replies": r}
        for (c, d, p, who), (m, r) in sorted(counts.items())
    ]  # fmt: skip
    _upsert(conn, rollup_activity, ("conversation_id", "day"), ("messages", "replies"), rows)


def add_people(conn: Connection, spans: Mapping[tuple[str, str], tuple[str, str]]) -> None:
    """Widen each (persona, person)'s span of writing days to take in the given one."""
    if not spans:
        return
    rows = [
        {"persona_slug": p, "person_id": who, "first_day": first, "last_day": last}
        for (p, who), (first, last) in sorted(spans.items())
    ]
    conn.execute(_widen_people(conn.dialect.name), rows)


def add_person_day(conn: Connection, person_id: str, day: str) -> None:
    """Note that the person wrote on ``day``: a new day takes the person's latest earlier day
    as its prev_day and becomes the prev_day of the next later day, if one was stored (a
    message stamped out of order)."""
    at = {"who": person_id, "on": day}
    added = conn.execute(_adding_day(conn.dialect.name), at)
    if added.rowcount == 1:  # else the person had written that day already
        conn.execute(_relinking_next_day(), at)


_WHO: Any = bindparam("who")
_ON: Any = bindparam("on")


@functools.cache
def _adding_day(dialect_name: str) -> Any:
    days = rollup_person_days.c
    earlier = select(func.max(days.day)).where(days.person_id == _WHO, days.day < _ON)
    return (
        _dialect(dialect_name)
        .insert(rollup_person_days)
        .values(person_id=_WHO, day=_ON, prev_day=earlier.scalar_subquery())
        .on_conflict_do_nothing()
    )


@functools.cache
def _relinking_next_day() -> Any:
    days, other = rollup_person_days.c, rollup_person_days.alias("later").c  # not correlated
    later = select(func.min(other.day)).where(other.person_id == _WHO, other.day > _ON)
    return (
        update(rollup_person_days)
        .where(days.person_id == _WHO, days.day == later.scalar_subquery())
        .values(prev_day=_ON)
    )


def _upsert(
    conn: Connection,
    table: Table,
    keys: Iterable[str],
    counters: Iterable[str],
    rows: list[dict[str, Any]],
) -> None:
    if not rows:
        return
    conn.execute(_adding(conn.dialect.name, table, tuple(keys), tuple(counters)), rows)


# Every message and turn runs these upserts (a webhook's accept among them): each statement
# is built once per database kind, since building and cache-keying one per call cost more
# than the database's own work.
@functools.cache
def _adding(
    dialect_name: str, table: Table, keys: tuple[str, ...], counters: tuple[str, ...]
) -> Any:
    ins = _dialect(dialect_name).insert(table)
    return ins.on_conflict_do_update(
        index_elements=list(keys), set_={c: table.c[c] + ins.excluded[c] for c in counters}
    )


@functools.cache
def _widen_people(dialect_name: str) -> Any:
    ins = _dialect(dialect_name).insert(rollup_people)
    old, new = rollup_people.c, ins.excluded
    return ins.on_conflict_do_update(
        index_elements=["persona_slug", "person_id"],
        set_={
            "first_day": case((new.first_day < old.first_day, new.first_day), else_=old.first_day),
            "last_day": case((new.last_day > old.last_day, new.last_day), else_=old.last_day),
        },
    )


def _dialect(name: str) -> Any:
    return postgresql if name == "postgresql" else sqlite


def rebuild(conn: Connection, person_days: bool = True) -> None:
    """Inside the caller's transaction: the rollups again from the stored messages and turns
    (the r0014 backfill, which predates rollup_person_days; a bench seeding rows directly)."""
    conn.execute(delete(rollup_daily))
    conn.execute(delete(rollup_activity))
    daily: Counter[tuple[str, str, str]] = Counter()
    activity: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    day = _day_sql(conn, messages.c.created_at)
    for cid, persona, person, d, role, n in conn.execute(
        select(
            conversations.c.id, conversations.c.persona_slug, conversations.c.person_id,
            day, messages.c.role, func.count(),
        )
        .join_from(messages, conversations, conversations.c.id == messages.c.conversation_id)
        .group_by(conversations.c.id, day, messages.c.role)
    ):  # fmt: skip
        daily[(persona, d, "replies" if role == "assistant" else "messages")] += n
        user, other = activity.get((cid, d, persona, person), (0, 0))
        activity[(cid, d, persona, person)] = (
            (user + n, other) if role == "user" else (user, other + n)
        )
    turn_day = _day_sql(conn, turns.c.created_at)
    for persona, d, status, latency, ttft, tokens, codes in conn.execute(
        select(
            conversations.c.persona_slug, turn_day, turns.c.status, turns.c.latency_ms,
            turns.c.ttft_ms, turns.c.tokens, turns.c.categories,
        ).join_from(turns, conversations, conversations.c.id == turns.c.conversation_id)
    ):  # fmt: skip
        for metric, n in turn_metrics(status, latency, ttft, tokens, codes).items():
            daily[(persona, d, metric)] += n
    items = sorted(daily.items())
    for i in range(0, len(items), 1000):
        add_daily(conn, dict(items[i : i + 1000]))
    keys = sorted(activity)
    for i in range(0, len(keys), 1000):
        add_activity(conn, {k: activity[k] for k in keys[i : i + 1000]})
    rebuild_people(conn, person_days)


def rebuild_people(conn: Connection, person_days: bool = True) -> None:
    """rollup_people and rollup_person_days again from rollup_activity (the r0015 backfill);
    without person_days, as r0014 left them: no table of days, no every-persona spans."""
    conn.execute(delete(rollup_people))
    if person_days:
        conn.execute(delete(rollup_person_days))
    act = rollup_activity.c
    spans: dict[tuple[str, str], tuple[str, str]] = {}
    wrote: dict[str, set[str]] = {}
    for persona, person, d in conn.execute(
        select(act.persona_slug, act.person_id, act.day).where(act.messages > 0).distinct()
    ):
        wrote.setdefault(person, set()).add(d)
        for key in ((persona, person), (ALL_PERSONAS, person))[: 2 if person_days else 1]:
            first, last = spans.get(key, (d, d))
            spans[key] = (min(first, d), max(last, d))
    keys = sorted(spans)
    for i in range(0, len(keys), 1000):
        add_people(conn, {k: spans[k] for k in keys[i : i + 1000]})
    rows = [
        {"person_id": person, "day": d, "prev_day": prev}
        for person in (sorted(wrote) if person_days else ())
        for prev, d in itertools.pairwise([None, *sorted(wrote[person])])
    ]
    for i in range(0, len(rows), 1000):
        conn.execute(rollup_person_days.insert(), rows[i : i + 1000])


def _day_sql(conn: Connection, column: Any) -> Any:
    """A UTC timestamp's day as 'YYYY-MM-DD' text, on either backend."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)
