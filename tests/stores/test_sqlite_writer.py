"""The SQLite writer batches concurrent writes: each keeps its own transaction and answer, urgent
writes (a webhook's accept) go ahead of waiting ones, and closing waits for what was called."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from personae.stores.connect import open_runner
from personae.stores.runner import BATCH_LATER, SqliteRunner, atomic


@pytest.fixture
async def runner(tmp_path: Path) -> SqliteRunner:
    opened = open_runner(f"sqlite:///{tmp_path / 'writer.db'}")
    assert isinstance(opened, SqliteRunner)
    await opened.write(_create)
    return opened


def _create(conn: Connection) -> None:
    with atomic(conn):
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))


def _insert(conn: Connection, n: int) -> int:
    with atomic(conn):
        conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
    return n


def _stored(conn: Connection) -> list[int]:
    return [row[0] for row in conn.execute(text("SELECT n FROM t ORDER BY n"))]


def _left_open(conn: Connection) -> None:
    conn.execute(text("INSERT INTO t (n) VALUES (999)"))  # autobegun, never committed
    raise RuntimeError("failed inside its transaction")


async def test_concurrent_writes_each_get_their_own_answer_when_one_fails(
    runner: SqliteRunner,
) -> None:
    calls = [runner.write(_insert, n) for n in range(20)]
    calls.insert(7, runner.write(_insert, 3))  # the same key again: an IntegrityError
    calls.insert(11, runner.write(_left_open))
    answers = await asyncio.gather(*calls, return_exceptions=True)
    assert [a for a in answers if not isinstance(a, BaseException)] == list(range(20))
    errors = [a for a in answers if isinstance(a, BaseException)]
    assert [type(e).__name__ for e in errors] == ["IntegrityError", "RuntimeError"]
    # The failed writes left nothing behind and did not spoil the writes after them.
    assert await runner.read(_stored) == list(range(20))
    await runner.aclose()


async def test_urgent_writes_go_ahead_of_waiting_ones(runner: SqliteRunner) -> None:
    order: list[str] = []
    release = threading.Event()

    def blocker(conn: Connection) -> None:
        release.wait(5.0)
        order.append("blocker")

    def note(conn: Connection, name: str) -> str:
        order.append(name)
        return name

    first = asyncio.ensure_future(runner.write(blocker))
    await asyncio.sleep(0.05)  # the blocker's batch is on the writer thread now
    later = [asyncio.ensure_future(runner.write(note, f"later{i}")) for i in range(12)]
    urgent = [asyncio.ensure_future(runner.write_first(note, f"urgent{i}")) for i in range(2)]
    release.set()
    await asyncio.gather(first, *later, *urgent)
    expected = ["blocker", "urgent0", "urgent1"] + [f"later{i}" for i in range(BATCH_LATER)]
    assert order[: len(expected)] == expected
    assert order[len(expected) :] == [f"later{i}" for i in range(BATCH_LATER, 12)]
    await runner.aclose()


async def test_close_waits_for_the_writes_already_called(runner: SqliteRunner) -> None:
    calls = [asyncio.ensure_future(runner.write(_insert, n)) for n in range(50)]
    await asyncio.sleep(0)  # called, not yet answered
    await runner.aclose()
    assert await asyncio.gather(*calls) == list(range(50))
