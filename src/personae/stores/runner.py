"""Run one sync store operation on a connection, in one hop from the event loop.

Every store operation is written once, as a sync function of a SQLAlchemy ``Connection``.
On SQLite it runs on a sync pysqlite engine in a worker thread: one thread hop for the whole
operation, instead of one per DBAPI call through aiosqlite. On PostgreSQL it runs on the
asyncpg engine through ``run_sync`` (a greenlet, no thread).

The function gets a connection outside any transaction and opens its own with
``with conn.begin():``, so that after an IntegrityError it can look again in a fresh one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import URL, Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

P = ParamSpec("P")
T = TypeVar("T")

# Reader threads for SQLite; WAL lets them read while the writer writes.
SQLITE_READERS = 4
# Writes that are not urgent in one batch: urgent ones (a webhook's accept, whose caller
# waits to answer) all go in the next batch, the rest a few at a time, oldest first.
BATCH_LATER = 8


class Runner(Protocol):
    """Where store operations run; ``url`` is the database as the user gave it."""

    url: URL

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def write_first(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A write a caller waits on to answer: ahead of other writes where that matters."""
        ...

    async def aclose(self) -> None: ...


class SqliteRunner:
    """A sync pysqlite engine driven from worker threads.

    All writes go through one thread, so writers of this process never wait on each other's
    locks (SQLite allows one writer at a time anyway); other processes are waited for by
    busy_timeout. Reads run on a few threads of their own. An in-memory database has a
    single shared connection, so there everything runs on the writer thread.

    Writes are batched: the writes called while the writer thread is busy go to it together,
    in one hop on one connection, and their answers come back in one wake-up of the event
    loop. Each still runs in its own transaction and gets its own result or exception. Under
    a burst of webhooks this turns hundreds of thread hops into a few. ``write_first`` is
    for a write someone waits on to answer (a webhook's accept): all of those go in the next
    batch, in call order, ahead of other writes, which go a few per batch in call order.
    """

    def __init__(self, engine: Engine, url: URL, memory: bool = False) -> None:
        self.url = url
        self._engine = engine
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="personae-sqlite-write")
        self._readers: Executor = self._writer
        if not memory:
            self._readers = ThreadPoolExecutor(
                SQLITE_READERS, thread_name_prefix="personae-sqlite-read"
            )
        self._closed = False
        # Writes called and not yet handed to the writer thread; at most one batch is there.
        self._first: list[_Write] = []
        self._later: list[_Write] = []
        self._idle = asyncio.Event()
        self._idle.set()

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self._readers, fn, *args, **kwargs)

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._queue(False, lambda conn: fn(conn, *args, **kwargs))

    async def write_first(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._queue(True, lambda conn: fn(conn, *args, **kwargs))

    async def _queue(self, first: bool, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        (self._first if first else self._later).append(_Write(fn, future))
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
        """On the writer thread: each write on one connection, then all answers at once."""
        outcomes: list[tuple[_Write, Any, BaseException | None]] = []
        try:
            with self._engine.connect() as conn:
                for write in batch:
                    try:
                        outcomes.append((write, write.fn(conn), None))
                    except Exception as exc:
                        outcomes.append((write, None, exc))
                    if conn.in_transaction():  # left open by a failure: not the next one's
                        conn.rollback()
        except BaseException as exc:  # no connection: every write not yet run gets the error
            done = {id(o[0]) for o in outcomes}
            outcomes += [(w, None, exc) for w in batch if id(w) not in done]
        loop.call_soon_threadsafe(self._answer, loop, outcomes)

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
        # After the writes already queued; the threads end once their queues are empty.
        await asyncio.get_running_loop().run_in_executor(self._writer, self._engine.dispose)
        self._readers.shutdown(wait=False)
        self._writer.shutdown(wait=False)


@dataclass(frozen=True, slots=True)
class _Write:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]


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

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # The server serialises writers itself (row locks, unique keys); nothing to route.
        return await self.read(fn, *args, **kwargs)

    async def write_first(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self.read(fn, *args, **kwargs)

    async def aclose(self) -> None:
        await self.engine.dispose()
