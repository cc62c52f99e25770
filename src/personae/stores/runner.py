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
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import URL, Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

P = ParamSpec("P")
T = TypeVar("T")

# Reader threads for SQLite; WAL lets them read while the writer writes.
SQLITE_READERS = 4


class Runner(Protocol):
    """Where store operations run; ``url`` is the database as the user gave it."""

    url: URL

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def aclose(self) -> None: ...


class SqliteRunner:
    """A sync pysqlite engine driven from worker threads.

    All writes go through one thread, so writers of this process never wait on each other's
    locks (SQLite allows one writer at a time anyway); other processes are waited for by
    busy_timeout. Reads run on a few threads of their own. An in-memory database has a
    single shared connection, so there everything runs on the writer thread.
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

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self._readers, fn, *args, **kwargs)

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self._writer, fn, *args, **kwargs)

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
        # After the writes already queued; the threads end once their queues are empty.
        await asyncio.get_running_loop().run_in_executor(self._writer, self._engine.dispose)
        self._readers.shutdown(wait=False)
        self._writer.shutdown(wait=False)


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

    async def aclose(self) -> None:
        await self.engine.dispose()
