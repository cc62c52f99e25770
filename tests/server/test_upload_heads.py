"""A large upload that claims to be a voice note is judged by its first bytes: a body that is
not audio is refused at once (400, saying what it really is) instead of being buffered up to
the audio cap, and the connection stays usable for the answer. Real audio still goes through."""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest

from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server
from .test_web_photos import png

AUDIO_LIMIT = 4_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("upload-heads")
    folder = home / "personas"
    folder.mkdir()
    (folder / "ekko.yaml").write_text("id: ekko\nname: Ekko\ngreeting: Hi there!\n")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, personas_dir=folder,
        load_samples=False, memory=False, media_max_audio_bytes=AUDIO_LIMIT,
    )  # fmt: skip
    live = start_server(settings)
    yield live
    live.stop()


def _cookie(server: LiveServer) -> str:
    with httpx.Client() as client:
        page = client.get(f"{server.url}/web/personas/ekko/conversation")
        assert page.status_code == 200
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def _send_slowly(server: LiveServer, head: bytes, declared: str, total: int) -> tuple[str, float]:
    """Declares ``total`` bytes, sends the head, then the rest in zeros as the server reads
    them; returns the answer and the share of the declared bytes sent before it came."""
    host, port = server.url.removeprefix("http://").split(":")
    cookie = _cookie(server)
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        request = (
            f"POST /web/uploads HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: {declared}\r\nContent-Length: {total}\r\nCookie: {cookie}\r\n\r\n"
        )
        sock.sendall(request.encode() + head)
        sent = len(head)
        sock.settimeout(0.05)
        answer = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            try:
                answer += sock.recv(65536)
                continue
            except TimeoutError:
                pass
            if sent < total:
                chunk = min(64 * 1024, total - sent)
                sock.sendall(bytes(chunk))
                sent += chunk
        sock.settimeout(5)
        try:
            while b'"}' not in answer:
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except TimeoutError:
            pass
    return answer.decode("latin-1"), sent / total


def test_a_picture_claiming_to_be_audio_is_refused_at_its_start(server: LiveServer) -> None:
    # The server runs in this process: its allocations are traced too.
    tracemalloc.start()
    try:
        answer, _ = _send_slowly(server, png(40, 40)[:64], "audio/ogg", AUDIO_LIMIT - 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Read and dropped as it came (the client gets its answer), never held whole.
    assert peak < AUDIO_LIMIT // 2, peak
    assert answer.startswith("HTTP/1.1 400"), answer
    assert "declared as audio/ogg but its content is image/png" in answer


def test_a_real_audio_start_is_let_through_to_the_route(server: LiveServer) -> None:
    head = b"OggS\x00\x02" + bytes(58)
    answer, fraction = _send_slowly(server, head, "audio/ogg", 300_000)
    # Read to the end, then judged by the route (not a real Ogg file: refused, but only then).
    assert fraction == 1.0
    assert answer.startswith("HTTP/1.1 400") and "voice note was not accepted" in answer
