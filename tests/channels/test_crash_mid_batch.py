"""`personae up` SIGKILLed in the middle of a burst of concurrent webhooks, its writes group-
committed (stores/runner.py): every message answered 200 before the kill is stored, once,
with its job; after a restart the platform's redeliveries store the rest, and nothing twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from personae.channels.webhook import sign
from up_process import free_port

PHONE_ID = "106540352242922"
APP_SECRET = "crash-app-secret"
MESSAGES = 240
PEOPLE = 12
KILL_AFTER = 60  # answers


def _home(tmp_path: Path) -> dict[str, str]:
    personas = tmp_path / "personas"
    personas.mkdir()
    persona = "id: echo\nname: Echo\ngreeting: Hi!\nmodel: {engine: scripted}\n"
    (personas / "echo.yaml").write_text(persona, encoding="utf-8")
    channels = f"""
        whatsapp:
          - persona: echo
            phone_number_id: "{PHONE_ID}"
            access_token: crash-token
            app_secret: {APP_SECRET}
            verify_token: crash-verify
        """
    (tmp_path / "channels.yaml").write_text(textwrap.dedent(channels), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env.update(
        PERSONAE_HOME=str(tmp_path), PERSONAE_PERSONAS_DIR=str(personas),
        PERSONAE_LOAD_SAMPLES="false", PERSONAE_MEMORY="false", PERSONAE_GUARDS="",
        PERSONAE_RATE_PERSON_PER_MIN="0", PERSONAE_LOG_LEVEL="warning",
        PERSONAE_GRAPH_API_BASE="http://127.0.0.1:9",  # replies fail to send: not counted here
    )  # fmt: skip
    return env


def _start(tmp_path: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    cli = [sys.executable, "-c", "from personae.cli import main; main()", "up", "--engine"]
    cli += ["scripted", "--port", str(port), "--channels", str(tmp_path / "channels.yaml")]
    with open(tmp_path / "up.log", "ab") as log:
        server = subprocess.Popen(cli, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, (tmp_path / "up.log").read_text()[-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise AssertionError("personae up did not answer /healthz within 120 s")


def _body(n: int) -> bytes:
    message = {
        "from": f"1555{n % PEOPLE:07d}",
        "id": f"wamid.CRASH{n:05d}",
        "timestamp": "1749416383",
        "type": "text",
        "text": {"body": f"message {n}"},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "messages": [message],
    }
    change = {"value": value, "field": "messages"}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [change]}]}).encode()  # fmt: skip


async def _send_all(port: int, kill: subprocess.Popen[bytes] | None) -> dict[int, int]:
    """Every message once, 40 at a time; with ``kill``, SIGKILL it after KILL_AFTER answers.
    Returns the status of each message that got an answer."""
    answered: dict[int, int] = {}
    queue = list(range(MESSAGES))

    async def sender(client: httpx.AsyncClient) -> None:
        while queue:
            n = queue.pop(0)
            body = _body(n)
            headers = {"X-Hub-Signature-256": sign(body, APP_SECRET)}
            try:
                answer = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            except httpx.HTTPError:
                continue  # no answer: the platform delivers it again later
            assert n not in answered, f"message {n} answered twice"
            answered[n] = answer.status_code
            if kill is not None and len(answered) == KILL_AFTER:
                kill.send_signal(signal.SIGKILL)

    limits = httpx.Limits(max_connections=40)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.gather(*(sender(client) for _ in range(40)))
    return answered


def _stored(db: Path) -> tuple[list[str], list[str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        messages = conn.execute(
            "SELECT external_id FROM messages WHERE role = 'user' ORDER BY id"
        ).fetchall()
        jobs = conn.execute(
            "SELECT m.external_id FROM work w JOIN messages m ON m.id = w.message_id "
            "WHERE w.kind = 'turn'"
        ).fetchall()
    return [m[0] for m in messages], [j[0] for j in jobs]


async def test_a_server_killed_mid_burst_loses_no_acknowledged_message_and_doubles_none(
    tmp_path: Path,
) -> None:
    env = _home(tmp_path)
    port = free_port()
    server = _start(tmp_path, env, port)
    try:
        answered = await _send_all(port, kill=server)
        server.wait(timeout=30)
        acknowledged = {f"wamid.CRASH{n:05d}" for n, status in answered.items() if status == 200}
        assert len(acknowledged) >= KILL_AFTER - 1, answered
        stored, jobs = _stored(tmp_path / "personae.db")
        assert acknowledged <= set(stored), "a message answered 200 was lost"
        assert len(stored) == len(set(stored)) and sorted(jobs) == sorted(stored)
        assert len(stored) < MESSAGES, "the kill came after the burst: nothing was tested"

        server = _start(tmp_path, env, port)  # the platform redelivers every message
        again = await _send_all(port, kill=None)
        assert sorted(again.values()) == [200] * MESSAGES
        stored, jobs = _stored(tmp_path / "personae.db")
        assert sorted(stored) == sorted(f"wamid.CRASH{n:05d}" for n in range(MESSAGES))
        assert sorted(jobs) == sorted(stored), "each message has exactly one turn job"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
