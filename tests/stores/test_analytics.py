"""Analytics over seeded rows: the expected figures on SQLite, and the same answer from
PostgreSQL for the same data (days, retention cohorts, percentiles, categories, ratings)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from personae.stores.analytics import Analytics
from personae.stores.rollups import BOUNDS, bucket, rebuild
from personae.stores.runner import atomic
from personae.stores.sql import SqlStore
from personae.stores.tables import (
    conversations,
    messages,
    outbox,
    people,
    personas,
    ratings,
    rollup_activity,
    rollup_daily,
    rollup_people,
    rollup_person_days,
    turns,
)
from personae.types import Persona, PersonRef, Timings, Trace, Usage, Verdict

DAY0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
START, END = DAY0, DAY0 + timedelta(days=10)
# (person, persona, day offset, hour, latency ms, ttft ms, status, categories, rating)
TURNS = [
    ("p1", "an-a", 0, 9, 100.0, 10.0, "ok", None, 1),
    ("p1", "an-a", 1, 23, 200.0, 20.0, "ok", None, -1),
    ("p1", "an-a", 8, 0, 300.0, 30.0, "refused", "CT", None),
    ("p2", "an-a", 0, 12, 400.0, None, "blocked", "S1,S10", None),
    ("p2", "an-a", 3, 12, 500.0, 50.0, "failed", None, None),
    ("p3", "an-a", 2, 1, 600.0, 60.0, "ok", None, 1),
    ("p4", "an-b", 0, 5, 700.0, 70.0, "ok", None, 1),  # another persona: left out
    ("p1", "an-a", 12, 0, 900.0, 90.0, "ok", None, None),  # after the period: retention only
]


def _seed(conn: Connection) -> None:
    with atomic(conn):
        for slug in ("an-a", "an-b"):
            conn.execute(insert(personas).values(
                slug=slug, current_revision=1, published=True, published_revision=1,
                created_at=DAY0, updated_at=DAY0,
            ))  # fmt: skip
        for person in ("p1", "p2", "p3", "p4"):
            conn.execute(insert(people).values(id=person, created_at=DAY0))
        opened: set[str] = set()
        for i, (person, slug, day, hour, latency, ttft, status, codes, rating) in enumerate(TURNS):
            at = DAY0 + timedelta(days=day, hours=hour)
            conv = f"{person}-{slug}"
            if conv not in opened:
                opened.add(conv)
                conn.execute(insert(conversations).values(
                    id=conv, persona_slug=slug, person_id=person, channel="web",
                    created_at=at, updated_at=at,
                ))  # fmt: skip
            inbound, reply = 2 * i + 1, 2 * i + 2
            for mid, role in ((inbound, "user"), (reply, "assistant")):
                if status == "failed" and role == "assistant":
                    continue
                conn.execute(insert(messages).values(
                    id=mid, conversation_id=conv, role=role, content="secret words",
                    channel="web", created_at=at + timedelta(seconds=mid % 2),
                ))  # fmt: skip
            conn.execute(insert(turns).values(
                conversation_id=conv, inbound_message_id=inbound,
                reply_message_id=None if status == "failed" else reply, persona_revision=1,
                status=status, trace=None, created_at=at, latency_ms=latency, ttft_ms=ttft,
                tokens=10 * (i + 1), categories=codes,
            ))  # fmt: skip
            if rating is not None:
                conn.execute(insert(ratings).values(
                    message_id=reply, conversation_id=conv, persona_slug=slug, value=rating,
                    source="web", created_at=at,
                ))  # fmt: skip
        # Rows put in directly: counted into the rollups as the r0014 backfill does.
        rebuild(conn)


async def _figures(url: str) -> Analytics:
    store = await SqlStore.open(url)
    try:
        await store.runner.write(_seed)
        return await store.analytics(["an-a"], START, END)
    finally:
        await store.aclose()


async def test_analytics_figures_same_on_each_backend(empty_url: str, tmp_path: Path) -> None:
    """On PostgreSQL the same rows are also seeded into SQLite: the answers must be equal."""
    found = await _figures(empty_url)
    on_sqlite = await _figures(f"sqlite+aiosqlite:///{tmp_path / 'compare.db'}")
    plain: dict[str, Any] = asdict(on_sqlite)
    assert asdict(found) == plain
    assert found.totals["messages"] == 6 and found.totals["replies"] == 5
    assert found.totals["people"] == 3 and found.totals["conversations"] == 3
    assert found.totals["replies_per_person"] == round(5 / 3, 3)
    assert found.totals["tokens"] == 10 + 20 + 30 + 40 + 50 + 60
    assert found.totals["failures"] == 1 and found.totals["safety_incidents"] == 2
    assert found.categories == {"CT": 1, "S1": 1, "S10": 1}
    assert found.ratings == {"up": 2, "down": 1}
    # Latency of the answered turns (not the failed one): 100, 200, 300, 400, 600, read as
    # the upper bound of their 10%-wide bucket.
    assert found.latency == {
        "latency_p50_ms": BOUNDS[bucket(300.0)], "latency_p95_ms": BOUNDS[bucket(600.0)],
        "ttft_p50_ms": BOUNDS[bucket(20.0)], "ttft_p95_ms": BOUNDS[bucket(60.0)],
    }  # fmt: skip
    assert 300.0 <= found.latency["latency_p50_ms"] < 330.0
    days = {d["day"]: d for d in found.daily}
    assert len(days) == 10 and days["2026-11-02"]["active_people"] == 2
    assert days["2026-11-03"]["messages"] == 1 and days["2026-11-05"]["replies"] == 0
    assert found.weekly == [
        {"week": "2026-11-02", "active_people": 3},
        {"week": "2026-11-09", "active_people": 1},
    ]
    # p1 and p2 first wrote on day 0: p1 came back on day 1 and day 8 (and 12), p2 on day 3.
    assert found.retention == [
        {"cohort": "2026-11-02", "people": 2, "day1": 2, "day7": 1},
        {"cohort": "2026-11-04", "people": 1, "day1": 0, "day7": 0},
    ]
    assert "secret" not in repr(asdict(found))


async def _rated(url: str) -> list[tuple[Any, ...]]:
    store = await SqlStore.open(url)
    try:
        await store.runner.write(_seed)
        found, total = await store.rated_replies(["an-a"], None, START, END, 10, 0)
        downs, _ = await store.rated_replies(["an-a"], -1, START, END, 10, 0)
        one, _ = await store.rated_replies(["an-a"], None, START, END, 10, 0, "p3-an-a")
        assert total == 3 and [r.message_id for r in downs] == [4]
        assert [r.message_id for r in one] == [12]
        return [
            (r.message_id, r.conversation_id, r.value, r.source, r.rated_at, r.reply_excerpt,
             r.turn_status)
            for r in found
        ]  # fmt: skip
    finally:
        await store.aclose()


async def test_rated_replies_same_on_each_backend(empty_url: str, tmp_path: Path) -> None:
    """Newest first, with the reply's excerpt and its turn; another persona's left out."""
    found = await _rated(empty_url)
    assert found == await _rated(f"sqlite+aiosqlite:///{tmp_path / 'rated.db'}")
    assert [row[0] for row in found] == [12, 4, 2]
    assert found[0][5] == "secret words" and found[0][6] == "ok"


def _sent(conn: Connection) -> None:
    """p1's first reply went out on a WhatsApp connection as platform message wamid.1."""
    with atomic(conn):
        conn.execute(
            conversations.update()
            .where(conversations.c.id == "p1-an-a")
            .values(channel="whatsapp:555")
        )
        conn.execute(insert(outbox).values(
            conversation_id="p1-an-a", message_id=2, channel="whatsapp:555", payload="{}",
            status="sent", attempts=1, available_at=DAY0, platform_message_id="wamid.1",
            created_at=DAY0, updated_at=DAY0,
        ))  # fmt: skip


async def test_a_channel_reaction_is_a_rating(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    try:
        await store.runner.write(_seed)
        await store.runner.write(_sent)
        at = DAY0 + timedelta(hours=10)
        base = (await store.analytics(["an-a"], START, END)).ratings
        react = store.add_channel_event
        await react("reaction", "whatsapp:555", "wamid.1", "555-p1", {"emoji": "👎🏽"}, at)
        assert (await store.analytics(["an-a"], START, END)).ratings == {
            "up": base["up"] - 1, "down": base["down"] + 1,
        }  # fmt: skip
        # Unknown message, another channel, an emoji that says nothing: no rating changes.
        await react("reaction", "whatsapp:555", "wamid.nope", "555-p1", {"emoji": "👍"}, at)
        await react("reaction", "whatsapp:999", "wamid.1", "555-p1", {"emoji": "👍"}, at)
        await react("reaction", "whatsapp:555", "wamid.1", "555-p1", {"emoji": "🍕"}, at)
        after = (await store.analytics(["an-a"], START, END)).ratings
        assert after == {"up": base["up"] - 1, "down": base["down"] + 1}
        await react("reaction", "whatsapp:555", "wamid.1", "555-p1", {"emoji": ""}, at)
        removed = (await store.analytics(["an-a"], START, END)).ratings
        assert removed == {"up": base["up"] - 1, "down": base["down"]}
    finally:
        await store.aclose()


def _trace(done_ms: float, status: str = "ok", codes: tuple[str, ...] = ()) -> Trace:
    verdicts = (Verdict("g", "output", False, "block", codes),) if codes else ()
    timings = Timings(0.0, 1.0, done_ms / 4, done_ms)
    return Trace(
        "scripted", "echo", 100, (), (), 0, timings, Usage(7, 5), None,
        "boom" if status == "failed" else None, verdicts=verdicts, status=status,  # type: ignore[arg-type]
    )  # fmt: skip


def _rollup_rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "daily": sorted(tuple(r) for r in conn.execute(select(rollup_daily))),
        "activity": sorted(tuple(r) for r in conn.execute(select(rollup_activity))),
        "people": sorted(tuple(r) for r in conn.execute(select(rollup_people))),
        "person_days": sorted(tuple(r) for r in conn.execute(select(rollup_person_days))),
    }


def _rebuild(conn: Connection) -> None:
    with atomic(conn):
        rebuild(conn)


async def test_rollups_written_with_each_turn_equal_the_backfill_and_forget_a_deleted_person(
    empty_url: str,
) -> None:
    """Through the write path: each message and turn adds to the rollups in its own
    transaction, and counting the stored rows afresh (the r0014 backfill) gives the same
    rows. Deleting a person removes their activity rows; the anonymous counts stay."""
    store = await SqlStore.open(empty_url)
    try:
        await store.put_persona(Persona(id="ro-a", name="Ro", greeting="Hi"))
        ada, bo = PersonRef("web", "ada"), PersonRef("web", "bo")
        first = await store.accept_turn("ro-a", ada, "hello", None, "turn", "{}")
        await store.complete_turn(first.conversation, first.message, "hi", 1, _trace(120.0))
        second = await store.accept_turn("ro-a", bo, "hey", None, "turn", "{}")
        await store.complete_turn(
            second.conversation, second.message, "no", 1, _trace(900.0, "blocked", ("S1",))
        )
        third = await store.accept_turn("ro-a", ada, "again", None, "turn", "{}")
        await store.fail_turn(third.conversation, third.message, 1, _trace(50.0, "failed"))
        written = await store.runner.read(_rollup_rows)
        await store.runner.write(_rebuild)
        assert await store.runner.read(_rollup_rows) == written
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        period = (today, today + timedelta(days=1))
        found = await store.analytics(["ro-a"], *period)
        assert (found.totals["messages"], found.totals["replies"], found.totals["people"]) == (
            3, 2, 2,
        )  # fmt: skip
        assert found.statuses["ok"] == 1 and found.statuses["failed"] == 1
        assert found.categories == {"S1": 1} and found.totals["tokens"] == 3 * 12
        assert found.latency["latency_p95_ms"] == BOUNDS[bucket(900.0)]

        await store.delete_person(first.conversation.person_id)
        after = await store.runner.read(_rollup_rows)
        assert after["daily"] == written["daily"]
        gone_id = first.conversation.person_id
        assert gone_id not in repr(after["activity"]) + repr(after["people"])
        assert gone_id not in repr(after["person_days"]) and len(after["person_days"]) == 1
        # bo's span with ro-a and over every persona (persona '').
        assert len(after["activity"]) == 1 and len(after["people"]) == 2
        gone = await store.analytics(["ro-a"], *period)
        assert gone.totals["people"] == 1 and gone.totals["conversations"] == 1
        assert gone.totals["messages"] == 3  # counts of what happened stay, anonymous
    finally:
        await store.aclose()
