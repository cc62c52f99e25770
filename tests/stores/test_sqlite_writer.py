"""The SQLite writer batches concurrent writes: each keeps its own transaction and answer, urgent
writes (a webhook's accept) go ahead of waiting ones, and closing waits for what was called."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import IntegrityError

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


async def test_a_batch_of_writes_is_one_transaction_with_one_commit(runner: SqliteRunner) -> None:
    commits: list[object] = []
    event.listen(runner._engine, "commit", commits.append)
    answers = await asyncio.gather(*(runner.write_first(_insert, n) for n in range(30)))
    assert answers == list(range(30))
    # Urgent writes called in one tick go in one batch (others a few per batch).
    assert len(commits) == 1, f"{len(commits)} commits for 30 writes: not group-committed"
    assert await runner.read(_stored) == list(range(30))
    await runner.aclose()


def _parent_and_child(conn: Connection) -> None:
    with atomic(conn):
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES "
                "parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )


def _orphan(conn: Connection) -> None:
    with atomic(conn):  # released fine: a deferred key is checked at COMMIT only
        conn.execute(text("INSERT INTO child (id, parent_id) VALUES (1, 42)"))


async def test_when_the_commit_fails_no_write_of_the_batch_is_answered_as_stored(
    runner: SqliteRunner,
) -> None:
    await runner.write(_parent_and_child)
    release = threading.Event()

    def blocker(conn: Connection) -> None:
        release.wait(5.0)

    first = asyncio.ensure_future(runner.write(blocker))
    await asyncio.sleep(0.05)  # the next writes wait for one batch together
    batch = [asyncio.ensure_future(runner.write(_insert, n)) for n in range(5)]
    batch.append(asyncio.ensure_future(runner.write(_orphan)))
    release.set()
    await first
    answers = await asyncio.gather(*batch, return_exceptions=True)
    assert all(isinstance(a, IntegrityError) for a in answers), answers
    assert await runner.read(_stored) == [], "a write answered with an error left rows"
    assert await runner.write(_insert, 7) == 7, "the writer goes on after a failed commit"
    await runner.aclose()


async def test_a_write_waits_for_another_process_holding_the_lock(
    runner: SqliteRunner, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "writer.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (n) VALUES (100)")
    timer = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    timer.start()
    assert await runner.write(_insert, 1) == 1  # waited; not "database is locked"
    timer.join()
    other.close()
    assert await runner.read(_stored) == [1, 100]
    await runner.aclose()


def test_store_functions_open_their_transactions_with_atomic() -> None:
    # conn.begin() inside a batch's transaction raises; atomic(conn) takes a savepoint there.
    stores = Path(__file__).resolve().parents[2] / "src" / "personae" / "stores"
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(stores.glob("*.py"))
        if path.name not in {"runner.py", "migrate.py"}
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "conn.begin()" in line or "connection.begin()" in line
    ]
    assert not offenders, f"use atomic(conn) from stores/runner.py: {offenders}"
