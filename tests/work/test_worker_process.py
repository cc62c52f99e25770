"""`personae up` in two processes (work/relay.py) on a real SQLite file: the serving side
loads no model and runs no job; its worker process, at a lower CPU priority, runs the turn
and streams it back. A SIGKILLed worker is started again and finishes the turn once; a
SIGKILLed server takes its worker with it (no second worker on the same jobs)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from personae.runtime import Runtime, up_role
from personae.settings import Settings
from personae.stores.tables import messages, work
from personae.types import PersonRef, TextDelta, TurnFinished, TurnInput
from personae.work.relay import WorkerProcess
from up_process import free_port


def _settings(home: Path, model: str = "") -> Settings:
    return Settings(home=home, engine="scripted", model=model or None, memory=False)


async def _turn(web: Runtime, text: str, on_delta: object = None) -> tuple[list[str], str]:
    slug = (await web.store.list_personas())[0].persona.id
    deltas: list[str] = []
    final = ""
    async with asyncio.timeout(90):
        async for event in web.turns.run(TurnInput(slug, text, PersonRef("t", "kim"))):
            if isinstance(event, TextDelta):
                deltas.append(event.text)
                if callable(on_delta):
                    await on_delta(deltas)
            elif isinstance(event, TurnFinished):
                final = event.text
    return deltas, final


async def _stored(web: Runtime) -> tuple[list[str], list[tuple[object, ...]]]:
    def rows(conn: object) -> tuple[list[str], list[tuple[object, ...]]]:
        replies = conn.execute(  # type: ignore[attr-defined]
            select(messages.c.content).where(messages.c.role == "assistant")
        ).all()
        jobs = conn.execute(select(work.c.status)).all()  # type: ignore[attr-defined]
        return [r[0] for r in replies], [tuple(j) for j in jobs]

    return await web.store.runner.read(rows)


async def test_up_serves_here_and_runs_the_turn_in_a_niced_worker_process(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, "slow:0.05")
    assert up_role(settings, has_channels=True) == "web"
    assert up_role(settings) == "all", "auto: no channel, no second process"
    assert up_role(Settings(home=tmp_path, worker_process="true")) == "web"
    assert up_role(Settings(home=tmp_path, database_url="sqlite://"), True) == "all"
    assert up_role(Settings(home=tmp_path, worker_process="false"), True) == "all"
    web = await Runtime.start(settings, role="web")
    try:
        assert isinstance(web.work, WorkerProcess)
        pid = web.work.pid
        assert pid is not None and pid != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, pid) >= os.getpriority(os.PRIO_PROCESS, 0) + 1
        deltas, final = await _turn(web, "one two three")
        assert final.endswith("echo: one two three")
        assert len(deltas) > 1, "the reply streams here as the worker writes it"
        assert web.engines._engines == {}, "the serving process loads no model"
        # SQLite has one write lock: the worker sends its writes (claiming the job, the
        # reply, the job done) here, where the webhooks' writes go first in each batch.
        assert web.work.writes_run >= 3, "the serving process commits the worker's writes"
        assert await web.ready() == {"store": True, "queue": True}
    finally:
        await web.aclose()
    assert web.work.pid is not None
    assert not _alive(web.work.pid), "stopping the server stops its worker"


async def test_a_killed_worker_is_started_again_and_its_turn_answered_once(
    tmp_path: Path,
) -> None:
    web = await Runtime.start(_settings(tmp_path, "slow:0.3"), role="web")
    try:
        assert isinstance(web.work, WorkerProcess)
        first = web.work.pid
        assert first is not None

        async def kill_mid_reply(deltas: list[str]) -> None:
            if len(deltas) == 2 and _alive(first):
                os.kill(first, signal.SIGKILL)

        _deltas, final = await _turn(web, "one two three four five", kill_mid_reply)
        assert final.endswith("echo: one two three four five")
        assert web.work.starts == 2 and web.work.pid != first
        replies, jobs = await _stored(web)
        assert replies == [final], "one reply, stored once"
        assert jobs == [("done",)]
    finally:
        await web.aclose()


def test_a_killed_server_takes_its_worker_with_it(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env.update(PERSONAE_HOME=str(tmp_path), PERSONAE_MEMORY="false", PERSONAE_WORKER_PROCESS="true")
    cli = [sys.executable, "-c", "from personae.cli import main; main()", "up"]
    cli += ["--engine", "scripted", "--port", str(port)]
    with open(tmp_path / "up.log", "wb") as log:
        server = subprocess.Popen(cli, env=env, stdout=log, stderr=log)
    try:
        _wait_healthy(port, server)
        children = _children(server.pid)
        assert len(children) == 1, (tmp_path / "up.log").read_text()
        server.kill()
        server.wait()
        deadline = time.monotonic() + 10
        while _alive(children[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(children[0]), "the worker outlived its server"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, "personae up exited at start"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("personae up did not answer /healthz within 90 s")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
