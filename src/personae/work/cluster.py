"""The cluster's work queue: jobs on PostgreSQL through procrastinate, for any number of
`personae worker` processes on any machines.

Why procrastinate: it keeps its jobs in the PostgreSQL the store already uses (no second
system to run), its job ``lock`` runs jobs sharing it one at a time in deferral order, its
``queueing_lock`` refuses a second waiting job with the same key, and its workers send
heartbeats, so jobs of a dead worker can be found and run again.

How the contract's promise is kept:

* order: a queue job stands for "this conversation has work of this kind"; it carries the
  lock ``<kind>:<conversation>`` (one runs at a time per conversation, on whichever worker).
  Running, it reads the conversation's unfinished jobs from the store (``work`` rows,
  recorded by accept) and runs them in message order; so accepts that commit in one order and
  submit in another still run in arrival order, and a redelivery's extra queue job finds
  nothing left to do. Outbox lanes also carry a ``queueing_lock`` (one waiting lane job per
  conversation: every worker's scanner asks for one); a stalled lane job that cannot go back
  to "todo" because another waits is ended instead.
* nothing lost, no duplicate reply: a worker SIGKILLed mid-turn stops its heartbeat; after
  ``queue_stalled_s`` another worker puts that queue job back, and the turn runs again from
  its ``work`` row (its reply, trace, job status and outbox entries are one transaction, so
  a turn either left nothing or is done, and a done one is not run again). Work recorded
  while the queue was unreachable is found by a sweep of stale ``work`` rows and submitted.
* poison: every run of a job counts an attempt on its ``work`` row; one that reaches
  ``queue_max_attempts`` is parked (failed, with its last error) and skipped, so the
  person's later messages run. A resend of the same message re-opens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url

from personae.contracts import JobHandler
from personae.errors import PersonaeError, RetryLater, ServiceUnavailable
from personae.settings import Settings
from personae.types import Job, StoredMessage
from personae.work.pg_events import PgEventSink

log = logging.getLogger(__name__)
TASK = "personae.work"
SWEEP_S = 5.0


class ClusterSource(Protocol):
    async def work_backlog(
        self, conversation_id: str, kind: str, upto_message_id: int
    ) -> list[tuple[Job, int, str | None]]: ...

    async def note_job_error(self, job_id: int, error: str) -> None: ...

    async def park_job(self, job_id: int, attempts: int, error: str | None) -> bool: ...

    async def stale_work(self, kinds: Sequence[str], before: datetime, limit: int) -> list[Job]: ...

    async def turn_outcomes(
        self, message_ids: Sequence[int]
    ) -> dict[int, tuple[StoredMessage | None, str | None]]: ...


def psycopg_url(database_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (postgresql+asyncpg://...) as libpq takes it."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise PersonaeError(
            f"PERSONAE_QUEUE=procrastinate needs PostgreSQL, but PERSONAE_DATABASE_URL is "
            f"{url.get_backend_name()}; set it to postgresql+asyncpg://user@host/db"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ClusterWorkQueue:
    def __init__(
        self,
        source: ClusterSource,
        database_url: str,
        kinds: Sequence[str],
        *,
        concurrency: int = 8,
        max_attempts: int = 5,
        heartbeat_s: float = 5.0,
        stalled_s: float = 30.0,
        name: str | None = None,
        retry_wait_s: int = 1,
        stale_after_s: float | None = None,
    ) -> None:
        # Unfinished work untouched this long has lost its queue job (or never had one).
        self._stale_after_s = stale_after_s or max(stalled_s, 2 * SWEEP_S)
        self._source = source
        self._kinds = tuple(kinds)
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._heartbeat_s = heartbeat_s
        self._stalled_s = stalled_s
        self._name = name or f"{socket.gethostname()}-{id(self):x}"
        connector = procrastinate.PsycopgConnector(
            conninfo=psycopg_url(database_url),
            min_size=1,
            max_size=max(4, concurrency // 2 + 2),
            reconnect_timeout=3600,
        )
        self.app = procrastinate.App(connector=connector)
        self._task = self.app.task(
            name=TASK,
            pass_context=False,
            # A run that raised (a bug, the store down) runs again; attempts are counted on
            # the work rows, which park a job that never succeeds.
            retry=procrastinate.RetryStrategy(
                wait=retry_wait_s, linear_wait=2 * retry_wait_s, max_attempts=50
            ),
        )(self._run)
        self._handler: JobHandler | None = None
        # Kinds whose queue job runs a conversation's lane itself (the outbox), not work rows.
        self.lanes: dict[str, Callable[[str], Awaitable[None]]] = {}
        self._side: list[asyncio.Task[None]] = []
        self._opened = False

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Connect and create procrastinate's tables when the database has none yet."""
        await self.app.open_async()
        self._opened = True
        pool = self.app.connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn, conn.transaction():
            # Several processes may start at once: one creates the schema.
            await conn.execute("SELECT pg_advisory_xact_lock(726172)")
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
            row = await cursor.fetchone()
            if row is None or row[0] is None:
                log.info("creating procrastinate's tables")
                await conn.execute(self.app.schema_manager.get_schema())

    async def submit(self, job: Job) -> None:
        try:
            await self._task.configure(lock=f"{job.kind}:{job.conversation_id}").defer_async(
                kind=job.kind, conversation_id=job.conversation_id, message_id=job.message_id
            )
        except Exception as exc:  # psycopg's errors, the pool's timeout
            raise ServiceUnavailable(f"the work queue's database is unreachable: {exc}") from exc

    async def submit_lane(self, kind: str, conversation_id: str) -> None:
        """A job that runs the conversation's ``kind`` lane, one at a time per conversation."""
        key = f"{kind}:{conversation_id}"
        try:
            # One waiting lane job per conversation is enough: it sends every due row.
            # Ahead of new turns: a reply already made should not wait behind them.
            await self._task.configure(lock=key, queueing_lock=key, priority=1).defer_async(
                kind=kind, conversation_id=conversation_id, message_id=0
            )
        except AlreadyEnqueued:
            return
        except Exception as exc:
            raise ServiceUnavailable(f"the work queue's database is unreachable: {exc}") from exc

    async def serve(self, handler: JobHandler) -> None:
        self._handler = handler
        self._side = [
            asyncio.create_task(self._work_loop(), name="queue worker"),
            asyncio.create_task(self._sweep_loop(), name="queue sweep"),
        ]

    async def aclose(self, timeout_s: float = 30.0) -> None:
        for task in self._side:
            task.cancel()
        for task in self._side:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout_s)
        if self._opened:
            self._opened = False
            with contextlib.suppress(Exception):
                await self.app.close_async()

    async def ready(self) -> bool:
        """The queue's database answers."""
        try:
            return bool(await asyncio.wait_for(self.app.check_connection_async(), 3))
        except Exception:
            return False

    # ------------------------------------------------------------ running

    async def _work_loop(self) -> None:
        """procrastinate's worker, started again whenever it stops (a database restart
        ends it: its heartbeat or listener fails)."""
        while True:
            try:
                await self.app.run_worker_async(
                    name=self._name,
                    concurrency=self._concurrency,
                    install_signal_handlers=False,
                    update_heartbeat_interval=self._heartbeat_s,
                    stalled_worker_timeout=self._stalled_s,
                    fetch_job_polling_interval=1.0,
                    shutdown_graceful_timeout=10.0,
                    delete_jobs="successful",
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("queue worker stopped (%s); starting again", exc)
            await asyncio.sleep(1.0)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(min(SWEEP_S, self._stalled_s / 2))
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("queue sweep skipped: %s", exc)

    async def sweep(self) -> None:
        """Put back the jobs of workers that stopped sending heartbeats, and submit work
        recorded while the queue could not take it."""
        manager = self.app.job_manager
        for stalled in await manager.get_stalled_jobs(seconds_since_heartbeat=self._stalled_s):
            log.warning("job %s of a silent worker runs again", stalled.id)
            try:
                await manager.retry_job(stalled)
            except UniqueViolation:  # a lane job already waits for its conversation: enough
                assert stalled.id is not None
                await manager.finish_job_by_id_async(stalled.id, Status.FAILED, False)
        before = datetime.now(UTC) - timedelta(seconds=self._stale_after_s)
        stale = await self._source.stale_work(self._kinds, before, 500)
        if not stale:
            return
        # Only conversations with no queue job waiting or running: a long backlog is stale
        # by age alone, and a job per sweep per worker would pile up.
        pool = self.app.connector.pool  # type: ignore[attr-defined]
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT DISTINCT lock FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            )
            queued = {row[0] for row in await cursor.fetchall()}
        for job in stale:
            key = f"{job.kind}:{job.conversation_id}"
            if key not in queued:
                queued.add(key)
                await self.submit(job)

    async def _run(self, kind: str, conversation_id: str, message_id: int) -> None:
        assert self._handler is not None
        lane = self.lanes.get(kind)
        if lane is not None:
            await lane(conversation_id)
            return
        # Every unfinished job of this conversation and kind, to now: a later message's
        # queue job may have been deferred first.
        backlog = await self._source.work_backlog(conversation_id, kind, 2**62)
        for job, attempts, error in backlog:
            if attempts >= self._max_attempts:
                if await self._source.park_job(job.id, attempts, error):
                    log.error("job %d (%s) parked after %d attempts: %s", job.id, kind,
                              attempts, error)  # fmt: skip
                continue
            try:
                while True:
                    try:
                        await self._handler(job)
                        break
                    except RetryLater as later:
                        # Every engine down: this worker keeps the conversation's lock (its
                        # later messages wait, in order) and runs the job again after the
                        # delay until an engine answers; no parking check in between (each
                        # run still counts an attempt on the work row).
                        log.info("job %d (%s) runs again in %.1fs: %s", job.id, kind,
                                 later.delay_s, later)  # fmt: skip
                        await asyncio.sleep(later.delay_s)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await self._source.note_job_error(job.id, f"{type(exc).__name__}: {exc}")
                raise


async def open_cluster(
    settings: Settings, source: ClusterSource, *, listen: bool
) -> tuple[ClusterWorkQueue, PgEventSink]:
    """The queue and the event sink on the store's PostgreSQL, connected and started."""
    from personae.core.turn import TURN
    from personae.memory.work import MEMORY

    url = settings.resolved_database_url
    queue = ClusterWorkQueue(
        source, url, [TURN, MEMORY],
        concurrency=settings.queue_concurrency, max_attempts=settings.queue_max_attempts,
        heartbeat_s=settings.queue_heartbeat_s, stalled_s=settings.queue_stalled_s,
    )  # fmt: skip
    await queue.open()
    events = PgEventSink(psycopg_url(url), listen=listen, outcomes=source.turn_outcomes)
    await events.start()
    return queue, events
