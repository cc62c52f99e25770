"""Analytics: aggregates of a period, over one persona or several. Counts only, never text.

Every figure is computed the same way on SQLite and PostgreSQL: SQL counts and groups; the
days come out as 'YYYY-MM-DD' text (UTC) on both; percentiles are taken here, in Python,
from the same values (nearest rank), so both backends give identical answers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, distinct, func, select

from personae.stores.tables import conversations, messages, ratings, turns

STATUSES = ("ok", "refused", "crisis", "blocked", "rewritten", "failed")
INCIDENTS = ("refused", "crisis", "blocked", "rewritten")


@dataclass(frozen=True, slots=True)
class Analytics:
    personas: tuple[str, ...]
    start: datetime
    end: datetime
    totals: dict[str, float]
    daily: list[dict[str, Any]]
    weekly: list[dict[str, Any]]
    retention: list[dict[str, Any]]
    latency: dict[str, float | None]
    statuses: dict[str, int]
    categories: dict[str, int]
    ratings: dict[str, int] = field(default_factory=dict)


def _day(conn: Connection, column: Any) -> ColumnElement[str]:
    """A UTC timestamp's day as 'YYYY-MM-DD' text, on either backend."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def analytics(
    conn: Connection, personas: Sequence[str], start: datetime, end: datetime
) -> Analytics:
    slugs = tuple(sorted(set(personas)))
    mine = conversations.c.persona_slug.in_(slugs)
    in_period = (messages.c.created_at >= start) & (messages.c.created_at < end)
    joined = messages.join(conversations, conversations.c.id == messages.c.conversation_id)
    day = _day(conn, messages.c.created_at)

    by_day: dict[str, dict[str, Any]] = defaultdict(lambda: {"messages": 0, "replies": 0})
    for d, role, count in conn.execute(
        select(day, messages.c.role, func.count())
        .select_from(joined)
        .where(mine, in_period)
        .group_by(day, messages.c.role)
    ):
        by_day[d]["replies" if role == "assistant" else "messages"] += int(count)

    conversations_active = conn.scalar(
        select(func.count(distinct(messages.c.conversation_id)))
        .select_from(joined)
        .where(mine, in_period)
    )
    new_conversations = conn.scalar(
        select(func.count()).where(
            mine, conversations.c.created_at >= start, conversations.c.created_at < end
        )
    )
    # Each person's active days from the period's start on (later days count for retention).
    active: dict[str, set[str]] = defaultdict(set)
    for person, d in conn.execute(
        select(conversations.c.person_id, day)
        .select_from(joined)
        .where(mine, messages.c.role == "user", messages.c.created_at >= start)
        .group_by(conversations.c.person_id, day)
    ):
        active[person].add(d)
    first_seen = {
        person: _text_day(first)
        for person, first in conn.execute(
            select(conversations.c.person_id, func.min(messages.c.created_at))
            .select_from(joined)
            .where(mine, messages.c.role == "user")
            .group_by(conversations.c.person_id)
        )
    }
    first_day, last_day = start.date().isoformat(), (end - timedelta(microseconds=1)).date()
    people_by_day: dict[str, set[str]] = defaultdict(set)
    for person, days in active.items():
        for d in days:
            if first_day <= d <= last_day.isoformat():
                people_by_day[d].add(person)
    daily: list[dict[str, Any]] = [
        {
            "day": d,
            "messages": by_day[d]["messages"] if d in by_day else 0,
            "replies": by_day[d]["replies"] if d in by_day else 0,
            "active_people": len(people_by_day.get(d, ())),
        }
        for d in _days(start.date(), last_day)
    ]
    weekly_people: dict[str, set[str]] = defaultdict(set)
    for d, people in people_by_day.items():
        weekly_people[_week(d)].update(people)
    weekly = [
        {"week": w, "active_people": len(weekly_people.get(w, ()))}
        for w in sorted({_week(x["day"]) for x in daily})
    ]
    period_people = set().union(*people_by_day.values()) if people_by_day else set()
    replies = sum(x["replies"] for x in daily)

    figures = _turn_figures(conn, mine, start, end)
    totals: dict[str, float] = {
        "conversations": int(conversations_active or 0),
        "new_conversations": int(new_conversations or 0),
        "messages": sum(x["messages"] for x in daily),
        "replies": replies,
        "people": len(period_people),
        "replies_per_person": round(replies / len(period_people), 3) if period_people else 0.0,
        **figures["totals"],
    }
    up_down: dict[int, int] = dict(
        conn.execute(
            select(ratings.c.value, func.count())
            .where(
                ratings.c.persona_slug.in_(slugs),
                ratings.c.created_at >= start,
                ratings.c.created_at < end,
            )
            .group_by(ratings.c.value)
        ).all()
    )
    return Analytics(
        personas=slugs,
        start=start,
        end=end,
        totals=totals,
        daily=daily,
        weekly=weekly,
        retention=_cohorts(first_seen, active, first_day, last_day.isoformat()),
        latency=figures["latency"],
        statuses=figures["statuses"],
        categories=figures["categories"],
        ratings={"up": int(up_down.get(1, 0)), "down": int(up_down.get(-1, 0))},
    )


def _turn_figures(
    conn: Connection, mine: ColumnElement[bool], start: datetime, end: datetime
) -> dict[str, Any]:
    joined = turns.join(conversations, conversations.c.id == turns.c.conversation_id)
    where = (mine, turns.c.created_at >= start, turns.c.created_at < end)
    statuses = dict.fromkeys(STATUSES, 0)
    categories: Counter[str] = Counter()
    tokens = 0
    for status, codes, count, used in conn.execute(
        select(turns.c.status, turns.c.categories, func.count(), func.sum(turns.c.tokens))
        .select_from(joined)
        .where(*where)
        .group_by(turns.c.status, turns.c.categories)
    ):
        statuses[status] = statuses.get(status, 0) + int(count)
        tokens += int(used or 0)
        for code in (codes or "").split(","):
            if code:
                categories[code] += int(count)
    rows = conn.execute(
        select(turns.c.latency_ms, turns.c.ttft_ms)
        .select_from(joined)
        .where(*where, turns.c.status != "failed", turns.c.latency_ms.is_not(None))
    ).all()
    latency = sorted(r[0] for r in rows)
    ttft = sorted(r[1] for r in rows if r[1] is not None)
    return {
        "totals": {
            "turns": sum(statuses.values()),
            "tokens": tokens,
            "failures": statuses.get("failed", 0),
            "safety_incidents": sum(statuses.get(s, 0) for s in INCIDENTS),
        },
        "statuses": statuses,
        "categories": dict(sorted(categories.items())),
        "latency": {
            "latency_p50_ms": _percentile(latency, 50),
            "latency_p95_ms": _percentile(latency, 95),
            "ttft_p50_ms": _percentile(ttft, 50),
            "ttft_p95_ms": _percentile(ttft, 95),
        },
    }


def _cohorts(
    first_seen: dict[str, str], active: dict[str, set[str]], first_day: str, last_day: str
) -> list[dict[str, Any]]:
    """People by the day they first wrote (in the period), and how many came back 1 or more
    and 7 or more days later (any time up to now)."""
    cohorts: dict[str, list[str]] = defaultdict(list)
    for person, first in first_seen.items():
        if first_day <= first <= last_day:
            cohorts[first].append(person)
    rows = []
    for first, people in sorted(cohorts.items()):
        start = date.fromisoformat(first)
        later = [[(date.fromisoformat(d) - start).days for d in active.get(p, ())] for p in people]
        day1 = sum(1 for gaps in later if any(g >= 1 for g in gaps))
        day7 = sum(1 for gaps in later if any(g >= 7 for g in gaps))
        rows.append({"cohort": first, "people": len(people), "day1": day1, "day7": day7})
    return rows


def _percentile(values: list[float], p: int) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return round(float(values[rank - 1]), 3)


def _days(first: date, last: date) -> list[str]:
    count = (last - first).days + 1
    return [(first + timedelta(days=i)).isoformat() for i in range(max(0, count))]


def _week(day: str) -> str:
    """The Monday starting the ISO week of ``day``."""
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def _text_day(value: Any) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).date().isoformat()
    return str(value)[:10]
