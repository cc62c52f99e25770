"""A `personae up` killed mid-turn finishes that turn by itself when it starts again: the
job recorded at accept is resumed, and answered exactly once."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

PERSONAE_BIN = Path(sys.executable).parent / "personae"
ADMIN = "restart-admin-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _up(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(PERSONAE_BIN), "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert proc.poll() is None, "`personae up` exited during start-up"
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("`personae up` did not become ready within 60 s")


def _conversation(base: str) -> dict[str, Any]:
    auth = {"authorization": f"Bearer {ADMIN}"}
    query = {"user": "ana", "channel": "openai", "client": "local"}
    [found] = httpx.get(f"{base}/api/conversations", params=query, headers=auth).json()[
        "conversations"
    ]
    body: dict[str, Any] = httpx.get(f"{base}/api/conversations/{found['id']}", headers=auth).json()
    return body


def test_a_turn_cut_short_by_a_kill_is_answered_once_after_restart(
    cli_env: dict[str, str],
) -> None:
    env = dict(cli_env, PERSONAE_MODEL="slow:0.2", PERSONAE_ADMIN_TOKEN=ADMIN)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    request = {
        "model": "cooking-coach",
        "user": "ana",
        "stream": True,
        "messages": [{"role": "user", "content": "What can I cook with eggs and spinach?"}],
    }
    first = _up(env, port)
    try:
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=request, timeout=30) as r:
            assert r.status_code == 200
            for line in r.iter_lines():  # once the reply has begun, the turn is mid-way
                if '"content":"' in line and '"content":""' not in line:
                    break
            first.kill()
            first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    messages_then: list[str] = []
    second = _up(env, port)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            conversation = _conversation(base)
            messages_then = [m["role"] for m in conversation["messages"]]
            if messages_then == ["user", "assistant"]:
                break
            time.sleep(0.2)
        assert messages_then == ["user", "assistant"], "the resumed turn stored its reply"
        time.sleep(1.0)  # nothing more arrives: the turn ran once, not twice
        conversation = _conversation(base)
        assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
        assert [t["status"] for t in conversation["turns"]] == ["ok"]
    finally:
        second.kill()
        second.wait(10)
