"""Analytics over every persona (read from rollup_person_days and the every-persona spans)
against counting the raw messages, on SQLite and PostgreSQL: people who write to two
personas, messages stored out of day order, a period that cuts weeks at both ends."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from personae.stores.analytics import analytics
from personae.stores.rollups import count_message, count_turn, rebuild
from personae.stores.runner import atomic
from personae.stores.sql import SqlStore
from personae.stores.tables import (
    conversations,
    messages,
    people,
    personas,
    rollup_people,
    rollup_person_days,
)

DAY0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
SLUGS = ("ev-a", "ev-b", "ev-c")  # ev-c never talks
PEOPLE = ("q1", "q2", "q3", "q4", "q5", "q6")
# Wednesday to Wednesday: the first and last weeks are cut by the period.
START, END = DAY0 + timedelta(days=2), DAY0 + timedelta(days=17)


def _events() -> list[tuple[str, str, datetime, str]]:
    """(person, persona, when, role), shuffled so that days arrive out of order."""
    rng = random.Random(12)
    out = []
    for _ in range(70):
        person = rng.choice(PEOPLE)
        persona = rng.choice(SLUGS[:2])
        at = DAY0 + timedelta(days=rng.randrange(22), hours=rng.randrange(24))
        out.append((person, persona, at, "user"))
        if rng.random() < 0.7:
            out.append((person, persona, at + timedelta(seconds=1), "assistant"))
    # The same person with both personas on one day, and once only a reply on a day.
    out += [("q1", "ev-a", DAY0 + timedelta(days=9, hours=1), "user")]
    out += [("q1", "ev-b", DAY0 + timedelta(days=9, hours=2), "user")]
    out += [("q2", "ev-b", DAY0 + timedelta(days=21, hours=3), "assistant")]
    rng.shuffle(out)
    return out


def _seed(conn: Connection) -> None:
    """Each message counted by the write path's own function, in the shuffled order."""
    with atomic(conn):
        for slug in SLUGS:
            conn.execute(insert(personas).values(
                slug=slug, current_revision=1, published=True, published_revision=1,
                created_at=DAY0, updated_at=DAY0,
            ))  # fmt: skip
        for person in PEOPLE:
            conn.execute(insert(people).values(id=person, created_at=DAY0))
        opened: set[str] = set()
        for i, (person, slug, at, role) in enumerate(_events()):
            conv = f"{person}-{slug}"
            if conv not in opened:
                opened.add(conv)
                conn.execute(insert(conversations).values(
                    id=conv, persona_slug=slug, person_id=person, channel="web",
                    created_at=at, updated_at=at,
                ))  # fmt: skip
            conn.execute(insert(messages).values(
                id=i + 1, conversation_id=conv, role=role, content="words", channel="web",
                created_at=at,
            ))  # fmt: skip
            count_message(conn, conv, slug, person, role, at)
            if role == "assistant":
                count_turn(conn, slug, at, {"status": "ok", "latency_ms": 10.0 * (i + 1)})


def _person_rollups(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """(rollup_daily is compared in test_analytics: here no turn rows are stored to recount.)"""
    return {
        "people": sorted(tuple(r) for r in conn.execute(select(rollup_people))),
        "person_days": sorted(tuple(r) for r in conn.execute(select(rollup_person_days))),
    }


def _rebuilt(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    with atomic(conn):
        rebuild(conn)
    return _person_rollups(conn)


def _truth(conn: Connection) -> dict[str, Any]:
    """The figures counted from the stored messages themselves."""
    rows = conn.execute(
        select(
            conversations.c.id, conversations.c.person_id, messages.c.role, messages.c.created_at
        ).join_from(messages, conversations, conversations.c.id == messages.c.conversation_id)
    ).all()
    first_day, last_day = START.date(), (END - timedelta(days=1)).date()
    wrote: dict[str, set[date]] = defaultdict(set)  # person -> days written, ever
    active_conversations: set[str] = set()
    for conv, person, role, at in rows:
        day = at.astimezone(UTC).date()
        if role == "user":
            wrote[person].add(day)
        if first_day <= day <= last_day:
            active_conversations.add(conv)
    in_period = {p: {d for d in days if first_day <= d <= last_day} for p, days in wrote.items()}
    by_day: dict[str, int] = defaultdict(int)
    by_week: dict[str, set[str]] = defaultdict(set)
    for person, days in in_period.items():
        for d in days:
            by_day[d.isoformat()] += 1
            by_week[(d - timedelta(days=d.weekday())).isoformat()].add(person)
    cohorts: dict[str, list[int]] = defaultdict(list)
    for days in wrote.values():
        if first_day <= min(days) <= last_day:
            cohorts[min(days).isoformat()].append((max(days) - min(days)).days)
    retention = [
        {"cohort": c, "people": len(g), "day1": sum(x >= 1 for x in g),
         "day7": sum(x >= 7 for x in g)}
        for c, g in sorted(cohorts.items())
    ]  # fmt: skip
    return {
        "people": sum(1 for days in in_period.values() if days),
        "conversations": len(active_conversations),
        "by_day": dict(by_day),
        "by_week": {w: len(p) for w, p in by_week.items()},
        "retention": retention,
    }


def _everyone_and_each(conn: Connection) -> tuple[Any, Any]:
    return analytics(conn, None, START, END), analytics(conn, list(SLUGS), START, END)


async def test_every_persona_figures_equal_counting_the_raw_messages(empty_url: str) -> None:
    store = await SqlStore.open(empty_url)
    try:
        await store.runner.write(_seed)
        written = await store.runner.read(_person_rollups)
        truth = await store.runner.read(_truth)
        everyone, each = await store.runner.read(_everyone_and_each)
        # The every-persona read and the per-persona DISTINCT read agree on every figure.
        assert asdict(everyone) == asdict(each)
        assert everyone.totals["people"] == truth["people"]
        assert everyone.totals["conversations"] == truth["conversations"]
        assert {d["day"]: d["active_people"] for d in everyone.daily if d["active_people"]} == (
            truth["by_day"]
        )
        assert {w["week"]: w["active_people"] for w in everyone.weekly} == truth["by_week"]
        assert everyone.retention == truth["retention"]
        assert len(everyone.weekly) == 3 and everyone.totals["people"] >= 5  # not vacuous
        # Days stored out of order were linked as counting afresh links them.
        assert written == await store.runner.write(_rebuilt)
        assert all(r[0] != "q2" or r[1] != "2026-11-23" for r in written["person_days"])
    finally:
        await store.aclose()


def _two_conversations(conn: Connection) -> None:
    with atomic(conn):
        conn.execute(insert(people).values(id="q1", created_at=DAY0))
        for slug in ("ev-a", "ev-b"):
            conn.execute(insert(personas).values(
                slug=slug, current_revision=1, published=True, published_revision=1,
                created_at=DAY0, updated_at=DAY0,
            ))  # fmt: skip
            conn.execute(insert(conversations).values(
                id=f"q1-{slug}", persona_slug=slug, person_id="q1", channel="web",
                created_at=DAY0, updated_at=DAY0,
            ))  # fmt: skip
        count_message(conn, "q1-ev-a", "ev-a", "q1", "user", DAY0)


def _days_of(conn: Connection) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in conn.execute(select(rollup_person_days)))


async def test_a_persons_days_written_at_once_by_two_transactions_stay_linked(
    empty_url: str,
) -> None:
    """One person writes to two personas around midnight in two transactions at once: the
    second waits for the first (the person's every-persona span row), so its day links to
    the first's day instead of an older one."""
    if not empty_url.startswith("postgresql"):
        pytest.skip("SQLite: one writer at a time, so no two transactions write at once")
    store = await SqlStore.open(empty_url)
    try:
        await store.runner.write(_two_conversations)
    finally:
        await store.aclose()
    day1, day2 = DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)
    engine = create_async_engine(empty_url)
    try:
        async with engine.connect() as first, engine.connect() as second:

            async def write(conn: AsyncConnection, slug: str, at: datetime) -> None:
                await conn.begin()
                await conn.run_sync(count_message, f"q1-{slug}", slug, "q1", "user", at)

            await write(first, "ev-a", day1)
            later = asyncio.create_task(write(second, "ev-b", day2))
            await asyncio.sleep(0.5)
            assert not later.done()  # waiting for the first transaction
            await first.commit()
            await later
            await second.commit()
            days = await first.run_sync(_days_of)
    finally:
        await engine.dispose()
    assert days == [
        ("q1", "2026-11-02", None), ("q1", "2026-11-03", "2026-11-02"),
        ("q1", "2026-11-04", "2026-11-03"),
    ]  # fmt: skip
