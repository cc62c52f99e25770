"""What the server creates under a fresh PERSONAE_HOME only its owner can read (0700 / 0600)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import httpx

from up_process import PERSONAE_BIN, free_port


def modes_under(home: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for path in home.rglob("*"):
        found[str(path.relative_to(home))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_up_creates_a_private_home(cli_env: dict[str, str]) -> None:
    home = Path(cli_env["PERSONAE_HOME"]) / "nested"  # neither exists yet
    env = {**cli_env, "PERSONAE_HOME": str(home), "PERSONAE_LOAD_SAMPLES": "true"}
    port = free_port()
    proc = subprocess.Popen(
        [str(PERSONAE_BIN), "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask: 0644 files unless we say else
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "press Ctrl-C to stop" in line:
                break
        body = {
            "model": "cooking-coach",
            "user": "u",
            "messages": [{"role": "user", "content": "hi"}],
        }
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        modes = modes_under(home)  # while running: the -wal and -shm files exist
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert {"personae.db", "personae.db-wal", "personae.db-shm", "admin_token"} <= set(modes)
    loose = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (home / name).is_dir() else 0o600)
    }
    assert not loose, f"readable by others: {loose}"
