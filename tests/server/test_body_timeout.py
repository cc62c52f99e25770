"""A request body must arrive within PERSONAE_BODY_TIMEOUT_S in total, or the answer is 408."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from personae.settings import Settings

from .live import LiveServer, start_server, write_personas
from .rawhttp import connect, read_answer

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("impatient")
    settings = Settings(
        home=home, engine="scripted", admin_token="t", load_samples=False,
        personas_dir=write_personas(home / "personas"), body_timeout_s=TIMEOUT_S,
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


def _head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer t\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("path", "openai_shape"), [("/v1/chat/completions", True), ("/api/conversations", False)]
)
def test_a_body_shorter_than_declared_gets_408(
    impatient: LiveServer, path: str, openai_shape: bool
) -> None:
    with connect(impatient.url) as sock:
        started = time.monotonic()
        sock.sendall(_head(path, 2_000_000) + b'{"model": "echo-friend", "messages": [')
        answer = read_answer(sock, started)
    assert answer.status == 408, answer
    assert answer.elapsed_s < TIMEOUT_S + 3
    error = answer.json()["error"]
    assert "PERSONAE_BODY_TIMEOUT_S" in error["message"]
    assert ("param" in error) is openai_shape
    assert answer.closed


def test_a_trickled_body_gets_408_within_the_total_bound(impatient: LiveServer) -> None:
    body = b'{"persona": "echo-friend", "user": "slow"}'
    with connect(impatient.url) as sock:
        started = time.monotonic()
        sock.sendall(_head("/api/conversations", len(body)))
        sent = 0
        # One byte every 0.2 s: each chunk is quick, the whole body is not.
        while sent < len(body) and time.monotonic() - started < TIMEOUT_S + 2:
            try:
                sock.sendall(body[sent : sent + 1])
            except OSError:
                break  # the server answered and closed
            sent += 1
            time.sleep(0.2)
        answer = read_answer(sock, started)
    assert answer.status == 408, answer
    assert sent < len(body)
    assert answer.elapsed_s < TIMEOUT_S + 3


def test_a_prompt_body_is_served(impatient: LiveServer) -> None:
    body = b'{"persona": "echo-friend", "user": "quick"}'
    with connect(impatient.url) as sock:
        sock.sendall(_head("/api/conversations", len(body)) + body)
        answer = read_answer(sock, time.monotonic())
    assert answer.status == 201, answer
