"""A runner whose writes another process commits: the worker of `personae up` on SQLite.

SQLite has one write lock per file. When the worker process wrote for itself, each turn held
that lock for tens of milliseconds (claiming the job, storing the reply, the outbox, memory),
longer still while its niced threads waited for CPU, and every webhook acknowledgement of the
serving process waited behind it. So the worker sends its writes to the serving process's
group-committing writer (runner.SqliteRunner) and awaits the answer: the serving process is
the only writer, and its webhooks' writes go first in its batches. Reads stay here: WAL
readers never wait on the writer.

A write travels as a pickle of the store function (pickled by reference: module and
qualified name) and its arguments. A write that cannot be pickled (a closure, a lambda, an
argument that does not pickle) runs here, on the local writer, as before: correct, only not
kept off the lock.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection

from personae.stores.runner import Runner

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

# Sends one pickled call ``(fn, args, kwargs)`` to the writing process; returns its answer
# (run_forwarded's, still pickled).
Send = Callable[[bytes], Awaitable[bytes]]


class ForwardedWrites:
    """Reads (and ``write_alone``: migrations, which switch pragmas) on ``local``; every other
    write through ``send`` to the process that commits them."""

    def __init__(self, local: Runner, send: Send) -> None:
        self.url = local.url
        self._local = local
        self._send = send
        self.forwarded = 0  # writes the other process committed (tests, logs)
        self.kept = 0  # writes that could not travel and ran here

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._local.read(fn, *args, **kwargs)

    async def read_now(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._local.read_now(fn, *args, **kwargs)

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            call = pickle.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            self.kept += 1
            log.debug("write %s runs in this process: %s", getattr(fn, "__qualname__", fn), exc)
            return await self._local.write(fn, *args, **kwargs)
        self.forwarded += 1
        result: T = answer_of(await self._send(call))
        return result

    async def write_first(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # Nobody here waits on a write to answer a request: the other process's go first.
        return await self.write(fn, *args, **kwargs)

    async def write_alone(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._local.write_alone(fn, *args, **kwargs)

    async def aclose(self) -> None:
        await self._local.aclose()


async def run_forwarded(runner: Runner, call: bytes) -> bytes:
    """The writing side: run one pickled call on ``runner``'s writer; the answer, pickled:
    its result, or its exception (type, args and attributes, so that the worker's caller can
    catch it as itself)."""
    try:
        fn, args, kwargs = pickle.loads(call)
        result = await runner.write(fn, *args, **kwargs)
    except Exception as exc:
        return _pickled_error(exc)
    try:
        return pickle.dumps((True, result), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # committed, but its result cannot travel back
        return _pickled_error(RuntimeError(f"a forwarded write's result does not pickle: {exc}"))


def answer_of(answer: bytes) -> Any:
    """The worker's side of run_forwarded: the result, or the exception raised."""
    ok, value = pickle.loads(answer)
    if ok:
        return value
    kind, args, state = value
    error: BaseException = kind.__new__(kind)  # not kind(*args): __init__s differ
    error.args = args
    error.__dict__.update(state)
    raise error


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, (type(exc), exc.args, vars(exc))), pickle.HIGHEST_PROTOCOL)
    except Exception:
        plain = RuntimeError(f"{type(exc).__name__}: {exc}")
        return pickle.dumps((False, (RuntimeError, plain.args, {})))
