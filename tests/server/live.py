"""Start a real personae server on a loopback port (uvicorn in a thread) for tests."""

from __future__ import annotations

import socket
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from personae.server import create_app
from personae.settings import Settings

ADMIN_TOKEN = "test-admin-token"
API_KEY = "test-api-key"
# Two named API keys: two clients that must never reach each other's people.
CLIENT_KEYS = {"alpha": "key-of-alpha-0123456789", "beta": "key-of-beta-9876543210"}

# Test personas: scripted (deterministic), slow streaming, hidden, and the real embedded model.
PERSONAS = {
    "echo-friend": """
        id: echo-friend
        name: Ekko  # not "Echo": the scripted reply "echo: ..." would read as its own label
        tagline: Says it back, kindly
        greeting: Hi! I'm Ekko. Tell me anything.
        """,
    "story-teller": """
        id: story-teller
        name: Sage
        tagline: Tells short stories, one word at a time
        greeting: Welcome, traveller. Shall I tell you a story?
        model: {engine: scripted, name: "slow:0.05"}
        """,
    "hidden-draft": """
        id: hidden-draft
        name: Draft
        greeting: Not ready yet.
        published: false
        """,
    "tiny-llama": """
        id: tiny-llama
        name: Tiny
        tagline: The embedded SmolLM2 model
        greeting: Hello! Ask me something short.
        model: {engine: llamacpp, max_tokens: 16, temperature: 0.0}
        """,
}


@dataclass
class LiveServer:
    url: str
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def start_server(settings: Settings) -> LiveServer:
    """Serve create_app(settings) on a free loopback port; returns once it accepts requests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start; see the log above")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", settings, server, thread)


def write_personas(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for slug, text in PERSONAS.items():
        (folder / f"{slug}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder
