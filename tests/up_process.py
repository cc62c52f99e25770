"""`personae up` as a real process for the tests that kill and restart it: a free loopback
port, and a start that returns once /healthz answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PERSONAE_BIN = Path(sys.executable).parent / "personae"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_up(env: dict[str, str], port: int, own_group: bool = False) -> subprocess.Popen[bytes]:
    """`personae up --port PORT`, ready. ``own_group``: its own process group, so that a
    kill of the group takes its worker process too."""
    proc = subprocess.Popen(
        [str(PERSONAE_BIN), "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=own_group,
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
    proc.wait(10)
    raise AssertionError("`personae up` did not become ready within 60 s")
