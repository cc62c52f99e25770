"""What the cluster benchmarks share: a throw-away PostgreSQL database, web nodes
(`personae serve --role web`) and workers (`personae worker`) as processes of their own on
loopback, exactly as they would run on several machines, and reads of the shared store.

The PostgreSQL server comes from --postgres (a URL whose user may create databases; default
$PERSONAE_BENCH_POSTGRES_URL or postgresql+asyncpg://postgres@127.0.0.1:5432/postgres)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from _channels import server_env
from startup import console_script, wait_ready

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--postgres", default=os.environ.get("PERSONAE_BENCH_POSTGRES_URL", DEFAULT_PG),
        help="PostgreSQL server URL (the user must be able to create databases)",
    )  # fmt: skip


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the server (SQLAlchemy URL), dropped afterwards."""
    name = f"personae_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(libpq(server_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def cluster_env(
    home: Path, graph_url: str, args: argparse.Namespace, url: str, **extra: str
) -> dict[str, str]:
    env = server_env(home, graph_url, args)
    env.update(
        PERSONAE_DATABASE_URL=url,
        PERSONAE_QUEUE="procrastinate",
        PERSONAE_ENGINE="scripted",
        PERSONAE_CHANNELS=str(home / "channels.yaml"),
        PERSONAE_MEMORY="false",
        **extra,
    )
    return env


class Cluster:
    """Web nodes and workers; a killed worker can be started again in its slot."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.webs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def _log(self, name: str) -> Any:
        return (self.home / f"{name}.log").open("ab")

    def start_web(self, port: int, limit_s: float = 120.0) -> None:
        command = [console_script(), "serve", "--role", "web", "--port", str(port)]
        proc = subprocess.Popen(
            command, env=self.env, stdout=self._log(f"web{port}"), stderr=subprocess.STDOUT
        )
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, time.perf_counter(), limit_s)
        self.webs.append(proc)

    def start_worker(self, slot: int | None = None) -> None:
        self.started += 1
        command = [console_script(), "worker", "--engine", "scripted"]
        proc = subprocess.Popen(
            command, env=self.env, stdout=self._log("workers"), stderr=subprocess.STDOUT
        )
        if slot is None:
            self.workers.append(proc)
        else:
            self.workers[slot] = proc

    def stop(self) -> None:
        for proc in [*self.webs, *self.workers]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.webs, *self.workers]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def store_counts(url: str) -> dict[str, Any]:
    """Unfinished work and outbox rows, parked jobs, and the turns' queue wait (ms)."""
    conn = await asyncpg.connect(libpq(url))
    try:
        jobs = await conn.fetchval(
            "SELECT count(*) FROM work WHERE status IN ('pending','running')"
        )
        out = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE status NOT IN ('sent','failed')"
        )
        parked = await conn.fetchval(
            "SELECT count(*) FROM work WHERE status = 'failed' AND last_error LIKE 'parked after%'"
        )
        failed_out = await conn.fetchval("SELECT count(*) FROM outbox WHERE status = 'failed'")
        max_attempts = await conn.fetchval("SELECT max(attempts) FROM work")
    finally:
        await conn.close()
    return {"jobs": int(jobs), "outbox": int(out), "parked": int(parked),
            "outbox_failed": int(failed_out), "work_max_attempts": max_attempts}  # fmt: skip


async def queued_ms(url: str) -> list[float]:
    """Each turn's wait from accept to its start (its trace's timings.queued_ms)."""
    conn = await asyncpg.connect(libpq(url))
    try:
        rows = await conn.fetch(
            "SELECT (trace::json->'timings'->>'queued_ms')::float AS q FROM turns "
            "WHERE trace IS NOT NULL"
        )
    finally:
        await conn.close()
    return [float(r["q"]) for r in rows if r["q"] is not None]


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def python() -> str:
    return sys.executable
