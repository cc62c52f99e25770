"""`personae up` split in two processes: the server accepts, a child process runs the work.

On one machine a webhook must be answered in milliseconds while its turn, the reply's
delivery and the after-turn work take far longer; in one process they share one event loop
and one GIL, so under a flood the acknowledgements queue behind the work. Here the serving
process keeps HTTP, webhooks and accept; a worker process it starts (and starts again if it
dies) runs every job through the embedded queue (local.py), at a lower CPU priority once it
has started, so the operating system gives the acknowledgements the CPU first. The two share
the database file (SQLite in WAL mode lets them) and a socket pair: jobs go down as the server
submits them, turn events come up to the server's hub, so an API stream or the web chat
follows a turn the worker runs. On SQLite the worker's writes go up too and the server
commits them (stores/forwarded.py): one writer, whose webhooks never wait on the worker's lock.

Nothing is lost between them: a job is in the database before it is submitted, and a worker
listens before it looks for unfinished jobs at start-up, so a job is in its scan or on its
socket (a job seen twice runs once: its turn finds it done). The worker dies with the server
(a kill of the server must not leave a second worker running the same jobs after the restart)
and exits when its socket closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import pickle
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from personae.contracts import EventSink, JobHandler
from personae.errors import ConfigError
from personae.settings import Settings
from personae.types import Job, ReadMark, WorkEvent
from personae.work import codec
from personae.work.events import LocalEventHub

log = logging.getLogger(__name__)
RESTART_PAUSE_S = 1.0
STOP_TIMEOUT_S = 30.0
LINE_LIMIT = 64 * 1024 * 1024  # a TurnFinished carries its whole trace
PR_SET_PDEATHSIG = 1


def encode_job(job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "kind": job.kind, "conversation_id": job.conversation_id,
        "message_id": job.message_id, "payload": job.payload,
        "created_at": job.created_at.isoformat(),
    }  # fmt: skip


def decode_job(data: dict[str, Any]) -> Job:
    return Job(**{**data, "created_at": datetime.fromisoformat(data["created_at"])})


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class WorkerProcess:
    """The serving side: a WorkQueue whose jobs run in a child process, and the source of
    the turn events that process publishes (fed into ``sink``)."""

    def __init__(
        self,
        command: Sequence[str],
        sink: EventSink,
        settings: Settings,
        *,
        ready_timeout_s: float = 300.0,
        writes: Callable[[bytes], Awaitable[bytes]] | None = None,
    ) -> None:
        self._settings = settings
        # Runs one of the worker's writes here (stores/forwarded.run_forwarded); None: the
        # worker writes for itself (PostgreSQL, whose server serialises writers itself).
        self._writes = writes
        self._writing: set[asyncio.Task[None]] = set()
        self.writes_run = 0  # the worker's writes committed here (tests, logs)
        self._command = list(command)  # the child gets its socket's fd as the last argument
        self._sink = sink  # the server's hub, under the metrics wrapper
        self._ready_timeout = ready_timeout_s
        self._writer: asyncio.StreamWriter | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._came_up = False  # a worker was ready once: one that dies later is restarted
        self.starts = 0  # how many worker processes were started (tests, logs)

    async def submit(self, job: Job) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            return  # recorded: the next worker finds it at start-up
        writer.write(_line({"job": encode_job(job)}))

    def read_mark(self, mark: ReadMark) -> None:
        """Mark a message read (and show typing) from the worker: an HTTP call whose CPU the
        acknowledgements here need more. Best effort, like the call itself."""
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(_line({"read": dataclasses.astuple(mark)}))

    async def serve(self, handler: JobHandler) -> None:
        """Start the worker process (``handler`` runs there, not here) and wait until it is
        ready: its model loaded and its unfinished jobs resumed."""
        del handler
        self._task = asyncio.create_task(self._supervise())
        waiting = asyncio.create_task(self._ready.wait())
        await asyncio.wait([waiting, self._task], timeout=self._ready_timeout,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if not self._ready.is_set():
            waiting.cancel()
            await self.aclose()
            raise ConfigError(
                "the worker process did not start; see its messages above (or set "
                "PERSONAE_WORKER_PROCESS=false to run everything in one process)"
            )

    async def ready(self) -> bool:
        """/readyz: a worker process is connected and serving."""
        return self._ready.is_set()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def _supervise(self) -> None:
        while not self._closing:
            code = await self._run_once()
            if self._closing:
                return
            if not self._came_up:
                return  # it never came up: serve() reports that
            log.warning("the worker process exited (code %s); starting it again", code)
            await asyncio.sleep(RESTART_PAUSE_S)

    async def _run_once(self) -> int | None:
        ours, theirs = socket.socketpair()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._command, str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        finally:
            theirs.close()
        self.starts += 1
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=LINE_LIMIT)
        self._writer = writer
        # The same settings as this process (flags of `personae up` included), secrets too:
        # the socket is this process's own, shared with its child only.
        writer.write(_line({
            "settings": base64.b64encode(pickle.dumps(self._settings)).decode(),
            "writes_here": self._writes is not None,
        }))  # fmt: skip
        try:
            await self._read(reader, writer)
        finally:
            self._ready.clear()
            self._writer = None
            writer.close()
        return await self._process.wait()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            data = json.loads(line)
            if "write" in data:  # not awaited here: the writes of a batch come together
                task = asyncio.create_task(self._write(writer, data["write"], data["call"]))
                self._writing.add(task)
                task.add_done_callback(self._writing.discard)
            elif "event" in data:
                await self._sink.publish(data["message"], codec.decode(data["event"]))
            elif data.get("ready"):
                self._came_up = True
                self._ready.set()

    async def _write(self, writer: asyncio.StreamWriter, number: int, call: str) -> None:
        """One of the worker's writes, committed here; the answer goes back (to a worker that
        died meanwhile, nowhere: committed all the same, as had it died just after)."""
        if self._writes is None:  # the worker asks only when told it may (writes_here)
            return
        answer = await self._writes(base64.b64decode(call))
        self.writes_run += 1
        if not writer.is_closing():
            writer.write(_line({"wrote": number, "answer": base64.b64encode(answer).decode()}))

    async def aclose(self) -> None:
        """Stop the worker: its running jobs finish and are stored, queued ones stay recorded
        for the next start."""
        self._closing = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("the worker process did not stop within %gs; killed", STOP_TIMEOUT_S)
                process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writing:  # the worker's last writes commit before the store closes
            await asyncio.gather(*self._writing, return_exceptions=True)


def _die_with_parent() -> None:
    """In the child before it runs: death with its parent."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


class ServerLink:
    """The worker's side: jobs from the server into ``submit`` and turn events back up.
    It is the worker's EventSink (nobody subscribes in the worker)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._submit: Callable[[Job], Awaitable[None]] | None = None
        self._pending: list[Job] = []
        self._read_handler: Callable[[ReadMark], None] | None = None
        self._marks: list[ReadMark] = []
        self._wrote: dict[int, asyncio.Future[bytes]] = {}  # writes sent, awaiting their answer
        self._sent = 0
        self.writes_there = False  # the server commits this worker's writes (SQLite)
        self.gone = asyncio.Event()  # the server closed its end: stop at once

    async def listen(self) -> Settings:
        """Connect, and read the server's settings (its first line); jobs that follow wait
        for ``attach``."""
        sock = socket.socket(fileno=self._fd)
        reader, self._writer = await asyncio.open_unix_connection(sock=sock, limit=LINE_LIMIT)
        first = json.loads(await reader.readline() or b"{}")
        if "settings" not in first:
            raise ConfigError("the worker process got no settings from the server; it is "
                              "started by `personae up`, not by hand")  # fmt: skip
        settings: Settings = pickle.loads(base64.b64decode(first["settings"]))
        self.writes_there = bool(first.get("writes_here"))
        self._task = asyncio.create_task(self._read(reader))
        return settings

    async def attach(self, submit: Callable[[Job], Awaitable[None]]) -> None:
        """Hand the jobs to ``submit``: those that came before it, then each as it comes.
        Called before the queue looks for unfinished jobs, so none falls between the two."""
        self._submit = submit
        pending, self._pending = self._pending, []
        for job in pending:
            await submit(job)

    async def write(self, call: bytes) -> bytes:
        """Send one pickled store write to the server, which commits it; its pickled answer
        (stores/forwarded.py)."""
        if self._writer is None or self._writer.is_closing():
            raise ConnectionError("the server is gone; the write was not sent")
        self._sent += 1
        number = self._sent
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._wrote[number] = future
        self._writer.write(_line({"write": number, "call": base64.b64encode(call).decode()}))
        try:
            return await future
        finally:
            self._wrote.pop(number, None)

    def _answer(self, data: dict[str, Any]) -> None:
        future = self._wrote.pop(data["wrote"], None)
        if future is None or future.done():
            return
        future.set_result(base64.b64decode(data["answer"]))

    def on_read_mark(self, handler: Callable[[ReadMark], None]) -> None:
        """Where read marks go (the worker's Inbound); those that came before, now."""
        self._read_handler = handler
        pending, self._marks = self._marks, []
        for mark in pending:
            handler(mark)

    def _read_mark(self, mark: ReadMark) -> None:
        if self._read_handler is None:
            self._marks.append(mark)
        else:
            self._read_handler(mark)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                data = json.loads(line)
                if "wrote" in data:
                    self._answer(data)
                    continue
                if "read" in data:
                    self._read_mark(ReadMark(*data["read"]))
                if "job" not in data:
                    continue
                job = decode_job(data["job"])
                if self._submit is None:
                    self._pending.append(job)
                else:
                    await self._submit(job)
        finally:
            for future in self._wrote.values():
                if not future.done():
                    future.set_exception(ConnectionError("the server is gone mid-write"))
            self.gone.set()

    def ready(self, nice: int) -> None:
        """Tell the server the worker is serving, from now at a lower CPU priority (not
        before: on a busy machine a niced start-up could take minutes)."""
        if nice:
            with contextlib.suppress(OSError):
                os.nice(nice)
        if self._writer is not None:
            self._writer.write(_line({"ready": True}))

    async def publish(self, message_id: int, event: WorkEvent) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(_line({"message": message_id, "event": codec.encode(event)}))

    def subscribe(self, message_id: int) -> AbstractAsyncContextManager[AsyncIterator[WorkEvent]]:
        # Nobody waits on a turn in the worker; its events are for the server's subscribers.
        return LocalEventHub().subscribe(message_id)

    async def aclose(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
