"""The worker of `personae up` on SQLite sends its writes to the serving process, which
commits them (stores/forwarded.py): here both sides are real runners on one SQLite file, the
call and its answer pickled as they travel between the processes."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from personae.errors import RevisionConflict
from personae.stores.connect import open_runner
from personae.stores.forwarded import ForwardedWrites, run_forwarded
from personae.stores.runner import SqliteRunner


def _write_row(conn: Connection, value: str) -> int:
    """A store write: which engine ran it tells which process committed it."""
    conn.execute(text("CREATE TABLE IF NOT EXISTS t (v TEXT)"))
    conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
    return id(conn.engine)


def _conflict(conn: Connection) -> None:
    raise RevisionConflict("kim", 1, 2)


def _refuse(conn: Connection, value: str) -> None:
    raise LookupError(f"no such thing: {value}")


async def test_writes_are_committed_by_the_serving_runner_and_reads_stay_local(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    serving, local = open_runner(url), open_runner(url)
    assert isinstance(serving, SqliteRunner) and isinstance(local, SqliteRunner)

    async def send(call: bytes) -> bytes:
        return await run_forwarded(serving, call)

    worker = ForwardedWrites(local, send)
    try:
        assert await worker.write(_write_row, "a") == id(serving._engine)
        assert await worker.write_first(_write_row, "b") == id(serving._engine)
        assert worker.forwarded == 2 and worker.kept == 0
        # A store function's own error reaches the worker's caller as itself.
        with pytest.raises(LookupError, match="no such thing: c"):
            await worker.write(_refuse, "c")
        # ... even one whose __init__ takes other arguments than its message.
        with pytest.raises(RevisionConflict, match="revision 1: the newest is revision 2") as e:
            await worker.write(_conflict)
        assert e.value.current == 2
        # A write that cannot travel (a closure) runs here, as before: correct, only local.
        assert await worker.write(lambda conn: _write_row(conn, "d")) == id(local._engine)
        assert worker.kept == 1
        # Arguments that do not pickle keep the write here too.
        unpicklable = functools.partial(_write_row, value="e")
        assert await worker.write(lambda conn, f=unpicklable: f(conn)) == id(local._engine)

        def rows(conn: Connection) -> list[str]:
            return [r[0] for r in conn.execute(text("SELECT v FROM t ORDER BY v"))]

        assert await worker.read(rows) == ["a", "b", "d", "e"]
    finally:
        await worker.aclose()
        await serving.aclose()
