"""read_now: a small read by key runs on the event loop's thread where the database is a
SQLite file (a thread hop costs more than the read), leaves the pooled connection as it found
it, and goes to a reader thread when it meets a lock or the database is in memory."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from personae.stores.connect import open_runner
from personae.stores.runner import SQLITE_BUSY_TIMEOUT_MS, SqliteRunner, atomic


def _create(conn: Connection) -> None:
    with atomic(conn):
        conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t (n) VALUES (1), (2), (3)"))


def _where(conn: Connection) -> tuple[int, list[int]]:
    """The thread it ran on, and what it read."""
    rows = [r[0] for r in conn.execute(text("SELECT n FROM t ORDER BY n"))]
    return threading.get_ident(), rows


def _busy_timeout(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())


async def _runner(url: str) -> SqliteRunner:
    runner = open_runner(url)
    assert isinstance(runner, SqliteRunner)
    await runner.write(_create)
    return runner


async def test_a_read_now_runs_on_the_loops_thread_and_restores_the_connection(
    tmp_path: Path,
) -> None:
    runner = await _runner(f"sqlite:///{tmp_path / 'now.db'}")
    try:
        thread, rows = await runner.read_now(_where)
        assert thread == threading.get_ident() and rows == [1, 2, 3]
        assert (await runner.read(_where))[0] != threading.get_ident()
        assert await runner.read_now(_busy_timeout) == 0  # it never waits for a lock
        # ... but the pooled connection it used waits for locks again like every other.
        pool = runner._engine.pool
        held = [runner._engine.connect() for _ in range(pool.checkedin())]  # type: ignore[attr-defined]
        try:
            assert held and {_busy_timeout(c) for c in held} == {SQLITE_BUSY_TIMEOUT_MS}
        finally:
            for conn in held:
                conn.close()
    finally:
        await runner.aclose()


async def test_a_read_now_that_meets_a_lock_is_read_on_a_reader_thread(tmp_path: Path) -> None:
    runner = await _runner(f"sqlite:///{tmp_path / 'locked.db'}")
    loop_thread = threading.get_ident()
    calls: list[int] = []

    def locked_here(conn: Connection) -> list[int]:
        calls.append(threading.get_ident())
        if threading.get_ident() == loop_thread:  # as SQLAlchemy reports SQLITE_BUSY
            raise OperationalError(
                "SELECT n FROM t", {}, sqlite3.OperationalError("database is locked")
            )
        return _where(conn)[1]

    try:
        assert await runner.read_now(locked_here) == [1, 2, 3]
        assert calls[0] == loop_thread and calls[1] != loop_thread and len(calls) == 2
    finally:
        await runner.aclose()


async def test_any_other_failure_of_a_read_now_reaches_its_caller_once(tmp_path: Path) -> None:
    runner = await _runner(f"sqlite:///{tmp_path / 'fails.db'}")
    calls = 0

    def missing_table(conn: Connection) -> None:
        nonlocal calls
        calls += 1
        conn.execute(text("SELECT * FROM nowhere"))

    try:
        with pytest.raises(OperationalError, match="no such table"):
            await runner.read_now(missing_table)
        assert calls == 1
    finally:
        await runner.aclose()


async def test_an_in_memory_database_reads_on_its_one_connection(tmp_path: Path) -> None:
    runner = await _runner("sqlite://")
    try:
        thread, rows = await runner.read_now(_where)
        assert thread != threading.get_ident() and rows == [1, 2, 3]
    finally:
        await runner.aclose()
