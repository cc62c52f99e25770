"""A `personae up` killed mid-turn finishes that turn by itself when it starts again: the
job recorded at accept is resumed, and answered exactly once."""

from __future__ import annotations

import time
from typing import Any

import httpx

from up_process import free_port, start_up

ADMIN = "restart-admin-token"


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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    request = {
        "model": "cooking-coach",
        "user": "ana",
        "stream": True,
        "messages": [{"role": "user", "content": "What can I cook with eggs and spinach?"}],
    }
    first = start_up(env, port)
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
    second = start_up(env, port)
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
