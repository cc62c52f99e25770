"""Run one sync store operation on a connection, in one hop from the event loop.

Every store operation is written once, as a sync function of a SQLAlchemy ``Connection``.
On SQLite it runs on a sync pysqlite engine in a worker thread: one thread hop for the whole
operation, instead of one per DBAPI call through aiosqlite. On PostgreSQL it runs on the
asyncpg engine through ``run_sync`` (a greenlet, no thread).

The function opens its transaction with ``with atomic(conn):``: a transaction of its own,
or a savepoint where the SQLite writer has already begun the batch's shared one; either way
after an IntegrityError it can look again in a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import URL, Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

P = ParamSpec("P")
T = TypeVar("T")

# Reader threads for SQLite; WAL lets them read while the writer writes.
SQLITE_READERS = 4
# Writes that are not urgent in one batch: urgent ones (a webhook's accept, whose caller
# waits to answer) all go in the next batch, the rest a few at a time, oldest first.
BATCH_LATER = 8
# Writers wait this long for the SQLite write lock before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
# While another process holds the write lock, look again after this long, doubling up to the
# most (a turn's writes hold it for a millisecond or so).
BUSY_PAUSE_S = 0.0002
BUSY_PAUSE_MAX_S = 0.002
# A passive WAL checkpoint after this many committed batches (SQLite's own would run inside a
# commit every 1,000 pages, with two fsyncs).
CHECKPOINT_EVERY = 64

log = logging.getLogger(__name__)


class Runner(Protocol):
    """Where store operations run; ``url`` is the database as the user gave it."""

    url: URL

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def read_now(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A read of a few rows found by key (a recall's rows, a version): where the database
        is in this process, run where the caller is instead of on another thread."""
        ...

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def write_first(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A write a caller waits on to answer: ahead of other writes where that matters."""
        ...

    async def write_alone(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A write outside any shared transaction: ``fn`` manages its own (migrations)."""
        ...

    async def aclose(self) -> None: ...


class SqliteRunner:
    """A sync pysqlite engine driven from worker threads.

    All writes go through one thread, so writers of this process never wait on each other's
    locks (SQLite allows one writer at a time anyway); other processes are waited for by
    polling in short steps (see _lock). Reads run on a few threads of their own. An
    in-memory database has a single shared connection, so there everything runs on the
    writer thread.

    Writes are batched and group-committed: the writes called while the writer thread is
    busy go to it together, in one hop, and run in ONE transaction (BEGIN IMMEDIATE, one
    COMMIT), each inside a savepoint of its own, so a write that fails leaves nothing behind
    and does not spoil the others; its caller gets the exception, the others their results.
    Answers come back only after the COMMIT, all in one wake-up of the event loop: a caller
    never hears of a write that is not stored. Under a burst of webhooks this turns hundreds
    of transactions, lock waits and thread hops into a few. ``write_first`` is for a write
    someone waits on to answer (a webhook's accept): all of those go in the next batch, in
    call order, ahead of other writes, which go a few per batch in call order.
    ``write_alone`` runs outside any batch transaction (migrations switch pragmas that only
    work outside one).

    Durability: WAL with synchronous=NORMAL (connect.py): a COMMIT is in the WAL file when the
    answer goes out, so a killed or crashed process loses nothing it answered; only a power
    cut or kernel crash can lose the last commits before a checkpoint. Checkpoints (the
    fsyncs) run on a thread of their own (_checkpoint), never inside a webhook's commit.
    """

    def __init__(self, engine: Engine, url: URL, memory: bool = False) -> None:
        self.url = url
        self._engine = engine
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="personae-sqlite-write")
        self._readers: Executor = self._writer
        self._checkpointer: ThreadPoolExecutor | None = None
        if not memory:
            self._readers = ThreadPoolExecutor(
                SQLITE_READERS, thread_name_prefix="personae-sqlite-read"
            )
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="personae-sqlite-ckpt")
        self._closed = False
        # Writes called and not yet handed to the writer thread; at most one batch is there.
        self._first: list[_Write] = []
        self._later: list[_Write] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._committed = 0  # batches since the last checkpoint was started
        self._checkpointing = False

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self._readers, fn, *args, **kwargs)

    async def read_now(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``read``, on the event loop's thread: for a read of a few rows by key, the hop to a
        reader thread and back costs more than the read (a recall's 24 memories: 0.6 ms to
        read, 1.1 ms through a reader thread on an idle machine, 3 ms on a busy one, where
        the thread waits for a core and the lock that Python's threads share). It never waits
        for SQLite's locks (a WAL reader seldom meets one; then it runs as ``read``)."""
        if self._readers is self._writer or self._closed:  # in-memory: one shared connection
            return await self.read(fn, *args, **kwargs)
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
                try:
                    return fn(conn, *args, **kwargs)
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        except OperationalError as exc:
            if not _busy(exc):
                raise
        return await self.read(fn, *args, **kwargs)

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._queue(False, lambda conn: fn(conn, *args, **kwargs))

    async def write_first(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._queue(True, lambda conn: fn(conn, *args, **kwargs))

    async def write_alone(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._queue(False, lambda conn: fn(conn, *args, **kwargs), alone=True)

    async def _queue(self, first: bool, fn: Callable[[Connection], T], alone: bool = False) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        (self._first if first else self._later).append(_Write(fn, future, alone))
        if self._idle.is_set():  # the writer waits: hand over on the next tick, so that the
            self._idle.clear()  # writes called in this one join the batch
            loop.call_soon(self._hand_over, loop)
        return await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """The next batch: every urgent write, then the oldest few others."""
        batch = self._first + self._later[:BATCH_LATER]
        self._first = []
        del self._later[:BATCH_LATER]
        if not batch:
            self._idle.set()
            return
        try:
            self._writer.submit(self._write_batch, loop, batch)
        except RuntimeError as exc:  # the runner was closed meanwhile
            self._answer(loop, [(write, None, exc) for write in batch])

    def _answer(
        self,
        loop: asyncio.AbstractEventLoop,
        outcomes: list[tuple[_Write, Any, BaseException | None]],
    ) -> None:
        for write, result, error in outcomes:
            if write.future.done():  # its caller was cancelled: the write happened all the same
                continue
            if error is not None:
                write.future.set_exception(error)
            else:
                write.future.set_result(result)
        self._hand_over(loop)

    def _write_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Write]) -> None:
        """On the writer thread: the batch's writes in one transaction (a write_alone one
        between them in its own), then all answers at once."""
        outcomes: list[tuple[_Write, Any, BaseException | None]] = []
        try:
            with self._engine.connect() as conn:
                group: list[_Write] = []
                for write in batch:
                    if not write.alone:
                        group.append(write)
                        continue
                    outcomes += self._commit_group(conn, group)
                    group = []
                    outcomes.append(_run_alone(conn, write))
                outcomes += self._commit_group(conn, group)
        except BaseException as exc:  # no connection: every write not yet run gets the error
            done = {id(o[0]) for o in outcomes}
            outcomes += [(w, None, exc) for w in batch if id(w) not in done]
        loop.call_soon_threadsafe(self._answer, loop, outcomes)
        self._after_commit()

    def _commit_group(
        self, conn: Connection, group: list[_Write]
    ) -> list[tuple[_Write, Any, BaseException | None]]:
        """Group commit: one write lock, one transaction, one COMMIT for every write of the
        group; each write in a savepoint, so its failure undoes only itself. When the lock or
        the COMMIT fails, nothing of the group is stored and every write gets the error."""
        if not group:
            return []
        outcomes: list[tuple[_Write, Any, BaseException | None]] = []
        try:
            with conn.begin():
                _lock(conn)
                for write in group:
                    try:
                        with conn.begin_nested():
                            outcomes.append((write, write.fn(conn), None))
                    except Exception as exc:
                        outcomes.append((write, None, exc))
        except Exception as exc:
            if conn.in_transaction():
                conn.rollback()
            return [(write, None, exc) for write in group]
        return outcomes

    def _after_commit(self) -> None:
        """Start a WAL checkpoint on its own thread now and then: its fsyncs and page copies
        then never sit inside a commit someone waits on (wal_autocheckpoint is off)."""
        if self._checkpointer is None:
            return
        self._committed += 1
        if self._checkpointing or self._committed < CHECKPOINT_EVERY:
            return
        self._committed = 0
        self._checkpointing = True
        try:
            self._checkpointer.submit(self._checkpoint)
        except RuntimeError:  # closed meanwhile: the last connection's close checkpoints
            self._checkpointing = False

    def _checkpoint(self) -> None:
        try:
            with self._engine.connect() as conn:
                # PASSIVE: copies what no reader still needs, never waits on a writer or reader.
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").close()
        except Exception as exc:  # a checkpoint left for the next one is harmless
            log.debug("WAL checkpoint skipped: %s", exc)
        finally:
            self._checkpointing = False

    async def _run(
        self,
        executor: Executor,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        def call() -> T:
            with self._engine.connect() as conn:
                return fn(conn, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._idle.wait()  # the writes already called, first
        loop = asyncio.get_running_loop()
        if self._checkpointer is not None:  # a checkpoint under way ends before dispose
            await loop.run_in_executor(self._writer, self._checkpointer.shutdown)
        # After the writes already queued; the threads end once their queues are empty.
        await loop.run_in_executor(self._writer, self._engine.dispose)
        self._readers.shutdown(wait=False)
        self._writer.shutdown(wait=False)


def _run_alone(conn: Connection, write: _Write) -> tuple[_Write, Any, BaseException | None]:
    """A write that manages its own transactions (and pragmas outside them)."""
    try:
        outcome: tuple[_Write, Any, BaseException | None] = (write, write.fn(conn), None)
    except Exception as exc:
        outcome = (write, None, exc)
    if conn.in_transaction():  # left open by a failure: not the next one's
        conn.rollback()
    return outcome


def _lock(conn: Connection) -> None:
    """Take SQLite's write lock for the batch (BEGIN IMMEDIATE), waiting for another process
    (the worker of personae up) in steps of a millisecond or two. SQLite's own busy handler
    sleeps up to 100 ms a step once a wait has lasted a while: far longer than the other
    side's short transactions hold the lock, and all of it added to a webhook's answer."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = BUSY_PAUSE_S
    conn.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, BUSY_PAUSE_MAX_S)
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _busy(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return (int(code) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc.orig) or "busy" in str(exc.orig)


def atomic(conn: Connection) -> AbstractContextManager[Any]:
    """A store function's unit of work: its own transaction, or a savepoint inside the
    SQLite writer's batch transaction (the batch commits it, with the others)."""
    return conn.begin_nested() if conn.in_transaction() else conn.begin()


@dataclass(frozen=True, slots=True)
class _Write:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    alone: bool = False


class AsyncRunner:
    """An async engine (asyncpg): the sync function runs in a greenlet via ``run_sync``."""

    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.url = url
        self.engine = engine

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn, *args, **kwargs)

    async def read_now(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self.read(fn, *args, **kwargs)  # the server is elsewhere: no thread to spare

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # The server serialises writers itself (row locks, unique keys); nothing to route.
        return await self.read(fn, *args, **kwargs)

    async def write_first(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self.read(fn, *args, **kwargs)

    async def write_alone(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self.read(fn, *args, **kwargs)

    async def aclose(self) -> None:
        await self.engine.dispose()
