"""What the channel benchmarks share: a home with one scripted persona bound to a WhatsApp
number, the loopback Graph API and `personae up` as processes of their own, and signed
WhatsApp text webhooks built the way Meta sends them."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import free_port
from personae.channels.webhook import sign
from startup import child_env, console_script, wait_ready

PHONE_ID = "106540352242922"
APP_SECRET = "bench-app-secret"
GRAPH_VERSION = "v23.0"
PERSONA = """
    id: echo
    name: Bench Relay
    greeting: Hello!
    model: {engine: scripted}
    """
CHANNELS = f"""
    whatsapp:
      - persona: echo
        phone_number_id: "{PHONE_ID}"
        access_token: bench-access-token
        app_secret: {APP_SECRET}
        verify_token: bench-verify-token
    """
HERE = Path(__file__).resolve().parent


def prepare_home(home: Path) -> None:
    folder = home / "personas"
    folder.mkdir(exist_ok=True)
    (folder / "echo.yaml").write_text(textwrap.dedent(PERSONA), encoding="utf-8")
    (home / "channels.yaml").write_text(textwrap.dedent(CHANNELS), encoding="utf-8")


def start_graph(
    home: Path, record: Path | None = None, statuses_to: str | list[str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The loopback Graph API in its own process; returns it and its base URL once it listens.
    With ``statuses_to`` (a webhook URL, or several taken in turn) it reports every send
    there, as WhatsApp does."""
    port = free_port()
    command = [sys.executable, str(HERE / "_graph.py"), "--port", str(port)]
    if record is not None:
        command += ["--record", str(record)]
    if statuses_to is not None:
        for url in [statuses_to] if isinstance(statuses_to, str) else statuses_to:
            command += ["--statuses-to", url]
        command += ["--app-secret", APP_SECRET]
    log = (home / "graph.log").open("ab")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the loopback Graph server exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the loopback Graph server did not listen within 20 s")


def server_env(home: Path, graph_url: str, args: argparse.Namespace) -> dict[str, str]:
    env = child_env(home, args)
    env.update(
        PERSONAE_PERSONAS_DIR=str(home / "personas"),
        PERSONAE_LOAD_SAMPLES="false",
        PERSONAE_GRAPH_API_BASE=graph_url,
        PERSONAE_GRAPH_API_VERSION=GRAPH_VERSION,
        PERSONAE_LOG_LEVEL="warning",
        # The channel benchmarks count replies by their text ("echo: <message>"); the safety
        # guards' disclosure and refusals would change it (bench/safety.py measures them).
        PERSONAE_GUARDS="",
    )
    return env


def start_server(
    home: Path, env: dict[str, str], port: int, limit_s: float = 120.0
) -> subprocess.Popen[bytes]:
    """`personae up` with the channels file on ``port``; returns once /healthz answers."""
    command = [console_script(), "up", "--port", str(port), "--engine", "scripted"]
    command += ["--channels", str(home / "channels.yaml")]
    log = (home / "server.log").open("ab")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", proc, time.perf_counter(), limit_s)
    except BaseException:
        proc.kill()
        proc.wait()
        print((home / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    return proc


def wa_id(person: int) -> str:
    return f"1555{person:07d}"


def text_webhook(person: int, wamid: str, text: str, at: int) -> bytes:
    """One WhatsApp text message as Meta posts it (``/`` escaped as Meta does)."""
    sender = wa_id(person)
    message = {"from": sender, "id": wamid, "timestamp": str(at), "type": "text"}
    message["text"] = {"body": text}  # type: ignore[assignment]
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": f"Person {person}"}, "wa_id": sender}],
        "messages": [message],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body).replace("/", "\\/").encode()


def raw_request(body: bytes, host: str) -> bytes:
    """The whole HTTP/1.1 request, signed, ready to write to a keep-alive socket."""
    head = (
        f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/json\r\n"
        f"X-Hub-Signature-256: {sign(body, APP_SECRET)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def signed_headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
