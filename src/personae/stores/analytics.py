"""Analytics: aggregates of a period, over one persona or several. Counts only, never text.

Read from the rollups (stores.rollups), never from messages: every figure is computed the
same way on SQLite and PostgreSQL, days are 'YYYY-MM-DD' text (UTC) on both, and
percentiles are taken here from the same bucket counts, so both backends agree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, distinct, func, literal, select, true

from personae.stores.rollups import BOUNDS
from personae.stores.tables import (
    ALL_PERSONAS,
    conversations,
    ratings,
    rollup_activity,
    rollup_daily,
    rollup_people,
    rollup_person_days,
)
from personae.stores.tables import (
    personas as persona_table,
)

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


def analytics(
    conn: Connection, personas: Sequence[str] | None, start: datetime, end: datetime
) -> Analytics:
    """``personas`` None: every persona, read without a filter (an IN list of a thousand
    slugs costs more to bind than the query takes)."""
    if personas is None:
        slugs = tuple(conn.scalars(select(persona_table.c.slug).order_by(persona_table.c.slug)))
    else:
        slugs = tuple(sorted(set(personas)))

    def mine(column: Any) -> Any:
        return true() if personas is None else column.in_(slugs)

    first_day = start.date().isoformat()
    last = (end - timedelta(microseconds=1)).date()
    last_day = last.isoformat()
    days = _days(start.date(), last)
    daily_rows, metrics = _daily_counts(
        conn, mine(rollup_daily.c.persona_slug), first_day, last_day
    )
    weeks = sorted({_week(d) for d in days})
    act = rollup_activity.c
    period = (mine(act.persona_slug), act.day >= first_day, act.day <= last_day)
    if personas is None:
        people_by_day, people_by_week, period_people = _everyones_people(
            conn, first_day, last_day, weeks
        )
    else:
        people_by_day, people_by_week, period_people = _peoples_of(conn, period, weeks)
    conversations_active = int(
        conn.scalar(select(func.count(distinct(act.conversation_id))).where(*period)) or 0
    )
    new_conversations = conn.scalar(
        select(func.count()).where(
            mine(conversations.c.persona_slug),
            conversations.c.created_at >= start,
            conversations.c.created_at < end,
        )
    )
    # Each person's first and last day of writing, ever: retention needs nothing more. Only
    # the people who first wrote in the period are cohorts: the others stay in the database.
    span = rollup_people.c
    first_in_period = (func.min(span.first_day) >= first_day, func.min(span.first_day) <= last_day)
    spans = conn.execute(
        select(span.person_id, span.first_day, span.last_day).where(
            span.persona_slug == ALL_PERSONAS,
            span.first_day >= first_day,
            span.first_day <= last_day,
        )
        if personas is None
        else select(span.person_id, func.min(span.first_day), func.max(span.last_day))
        .where(span.persona_slug.in_(slugs))
        .group_by(span.person_id)
        .having(*first_in_period)
    ).all()
    daily: list[dict[str, Any]] = [
        {
            "day": d,
            "messages": daily_rows.get((d, "messages"), 0),
            "replies": daily_rows.get((d, "replies"), 0),
            "active_people": int(people_by_day.get(d, 0)),
        }
        for d in days
    ]
    weekly = [{"week": w, "active_people": int(people_by_week.get(w, 0))} for w in weeks]
    replies = sum(x["replies"] for x in daily)
    figures = _turn_figures(metrics)
    totals: dict[str, float] = {
        "conversations": conversations_active,
        "new_conversations": int(new_conversations or 0),
        "messages": sum(x["messages"] for x in daily),
        "replies": replies,
        "people": period_people,
        "replies_per_person": round(replies / period_people, 3) if period_people else 0.0,
        **figures["totals"],
    }
    up_down: dict[int, int] = dict(
        conn.execute(
            select(ratings.c.value, func.count())
            .where(
                mine(ratings.c.persona_slug),
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
        retention=_cohorts(spans, first_day, last_day),
        latency=figures["latency"],
        statuses=figures["statuses"],
        categories=figures["categories"],
        ratings={"up": int(up_down.get(1, 0)), "down": int(up_down.get(-1, 0))},
    )


def _peoples_of(
    conn: Connection, period: tuple[Any, ...], weeks: list[str]
) -> tuple[dict[str, int], dict[str, int], int]:
    """People who wrote to these personas, by day, by week and in the whole period, counted
    by the database from the activity rollup's covering index (no row crosses into Python)."""
    act = rollup_activity.c
    wrote = (*period, act.messages > 0)
    by_day: dict[str, int] = dict(
        conn.execute(
            select(act.day, func.count(distinct(act.person_id))).where(*wrote).group_by(act.day)
        ).all()
    )
    week_of = case(*((act.day.between(w, _week_end(w)), w) for w in weeks), else_=literal(""))
    by_week: dict[str, int] = dict(
        conn.execute(
            select(week_of, func.count(distinct(act.person_id))).where(*wrote).group_by(week_of)
        ).all()
    )
    everyone = int(conn.scalar(select(func.count(distinct(act.person_id))).where(*wrote)) or 0)
    return by_day, by_week, everyone


def _everyones_people(
    conn: Connection, first_day: str, last_day: str, weeks: list[str]
) -> tuple[dict[str, int], dict[str, int], int]:
    """The same over every persona, without DISTINCT: one row per (day, person) who wrote that
    day, and a person is counted once in a span of days on its row whose previous writing day
    falls before the span. One pass over the day index gives (day, prev_day, people)."""
    pd = rollup_person_days.c
    by_day: dict[str, int] = defaultdict(int)
    by_week: dict[str, int] = defaultdict(int)
    everyone = 0
    for day, prev, n in conn.execute(
        select(pd.day, pd.prev_day, func.count())
        .where(pd.day >= first_day, pd.day <= last_day)
        .group_by(pd.day, pd.prev_day)
    ):
        by_day[day] += n
        week = _week(day)
        if prev is None or prev < max(week, first_day):  # first day of the week (in the period)
            by_week[week] += n
        if prev is None or prev < first_day:
            everyone += n
    return by_day, by_week, everyone


def _daily_counts(
    conn: Connection, personas: Any, first_day: str, last_day: str
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """(day, messages|replies) -> count, and every metric summed over the period."""
    roll = rollup_daily.c
    where = (personas, roll.day >= first_day, roll.day <= last_day)
    by_day = {
        (d, m): int(n)
        for d, m, n in conn.execute(
            select(roll.day, roll.metric, func.sum(roll.value))
            .where(*where, roll.metric.in_(("messages", "replies")))
            .group_by(roll.day, roll.metric)
        )
    }
    metrics = {
        m: int(n)
        for m, n in conn.execute(
            select(roll.metric, func.sum(roll.value)).where(*where).group_by(roll.metric)
        )
    }
    return by_day, metrics


def _turn_figures(metrics: dict[str, int]) -> dict[str, Any]:
    statuses = dict.fromkeys(STATUSES, 0)
    categories: dict[str, int] = {}
    latency: dict[int, int] = {}
    ttft: dict[int, int] = {}
    for metric, n in metrics.items():
        kind, _, key = metric.partition(":")
        if kind == "turns":
            statuses[key] = statuses.get(key, 0) + n
        elif kind == "category":
            categories[key] = n
        elif kind == "latency":
            latency[int(key)] = n
        elif kind == "ttft":
            ttft[int(key)] = n
    return {
        "totals": {
            "turns": sum(statuses.values()),
            "tokens": metrics.get("tokens", 0),
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


def _cohorts(spans: Sequence[Any], first_day: str, last_day: str) -> list[dict[str, Any]]:
    """People by the day they first wrote (in the period), and how many came back 1 or more
    and 7 or more days later (any time up to now): their last day says it."""
    cohorts: dict[str, list[int]] = defaultdict(list)
    for _person, first, latest in spans:
        if first_day <= first <= last_day:
            cohorts[first].append((date.fromisoformat(latest) - date.fromisoformat(first)).days)
    return [
        {
            "cohort": first,
            "people": len(gaps),
            "day1": sum(1 for g in gaps if g >= 1),
            "day7": sum(1 for g in gaps if g >= 7),
        }
        for first, gaps in sorted(cohorts.items())
    ]


def _percentile(buckets: dict[int, int], p: int) -> float | None:
    """Nearest rank over the buckets: the upper bound of the bucket holding the smallest value
    with at least p% of the values at or below it."""
    total = sum(buckets.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(p / 100 * total)), 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return BOUNDS[index]
    return BOUNDS[-1]


def _days(first: date, last: date) -> list[str]:
    count = (last - first).days + 1
    return [(first + timedelta(days=i)).isoformat() for i in range(max(0, count))]


def _week_end(monday: str) -> str:
    return (date.fromisoformat(monday) + timedelta(days=6)).isoformat()


def _week(day: str) -> str:
    """The Monday starting the ISO week of ``day``."""
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()
