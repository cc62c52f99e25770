"""A cluster of real processes on real PostgreSQL: a web node (no model loaded) follows a
turn that a `personae worker` process runs, through LISTEN/NOTIFY; that worker is SIGKILLed
mid-reply and a second worker finishes the turn, once: one reply, nothing lost.
Needs PERSONAE_TEST_POSTGRES_URL (skips, saying so, without it)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from personae.runtime import Runtime
from personae.settings import Settings
from personae.stores.tables import messages, work
from personae.types import PersonRef, TextDelta, TurnFinished, TurnInput

pytest.importorskip("procrastinate", reason="the cluster extra: pip install 'personae[cluster]'")
from stores.conftest import fresh_postgres_database, postgres_base_url


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    postgres_base_url()
    async with fresh_postgres_database() as url:
        yield url


def _env(home: Path, url: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env.update(
        PERSONAE_HOME=str(home), PERSONAE_DATABASE_URL=url, PERSONAE_QUEUE="procrastinate",
        PERSONAE_ENGINE="scripted", PERSONAE_MEMORY="false", PERSONAE_QUEUE_HEARTBEAT_S="0.5",
        PERSONAE_QUEUE_STALLED_S="2", **more,
    )  # fmt: skip
    return env


async def _worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    cli = [sys.executable, "-c", "from personae.cli import main; main()", "worker"]
    return await asyncio.create_subprocess_exec(
        *cli, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )


async def test_a_killed_worker_loses_nothing_and_replies_once(tmp_path: Path, pg_url: str) -> None:
    env = _env(tmp_path, pg_url)
    settings = Settings(
        home=tmp_path, database_url=pg_url, queue="procrastinate", engine="scripted",
        memory=False, queue_heartbeat_s=0.5, queue_stalled_s=2,
    )  # fmt: skip
    web = await Runtime.start(settings, role="web")
    slow = await _worker({**env, "PERSONAE_MODEL": "slow:0.3"})  # 0.3 s a word
    fast: asyncio.subprocess.Process | None = None
    try:
        slug = (await web.store.list_personas())[0].persona.id
        turn = TurnInput(slug, "one two three four five six", PersonRef("t", "kim"))
        text: list[str] = []
        finished: list[TurnFinished] = []
        async with asyncio.timeout(60):
            async for event in web.turns.run(turn):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    if slow.returncode is None and len(text) >= 2:
                        slow.send_signal(signal.SIGKILL)  # mid-reply, its job "doing"
                        await slow.wait()
                        fast = await _worker(env)
                if isinstance(event, TurnFinished):
                    finished.append(event)
        assert finished and finished[0].text.endswith("echo: one two three four five six")
        assert web.engines._engines == {}, "a web node loads no model"

        def rows(conn: object) -> tuple[list[object], list[object]]:
            replies = conn.execute(  # type: ignore[attr-defined]
                select(messages.c.content).where(messages.c.role == "assistant")
            ).all()
            jobs = conn.execute(select(work.c.status, work.c.attempts)).all()  # type: ignore[attr-defined]
            return replies, jobs

        replies, jobs = await web.store.runner.read(rows)
        assert [r[0] for r in replies] == [finished[0].text], "one reply, stored once"
        assert [tuple(j) for j in jobs] == [("done", 2)], "the killed attempt, then one more"
    finally:
        await web.aclose()
        for proc in (slow, fast):
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
