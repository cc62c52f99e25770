"""The Host header: a loopback server answers only loopback names (DNS-rebinding guard)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from personae.server.hosts import LOOPBACK_NAMES, allowed_hosts
from personae.settings import Settings

from .live import LiveServer, start_server, write_personas
from .rawhttp import connect, read_answer


def _get(server: LiveServer, path: str, host: str) -> httpx.Response:
    return httpx.get(server.url + path, headers={"Host": host}, timeout=30)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io"])
def test_a_foreign_host_is_refused_in_each_surface_shape(live: LiveServer, host: str) -> None:
    openai = _get(live, "/v1/models", host)
    assert openai.status_code == 400, openai.text
    error = openai.json()["error"]
    assert error["code"] == "host_not_allowed" and "PERSONAE_ALLOWED_HOSTS" in error["message"]
    assert repr(host.split(":")[0]) in error["message"]
    for path in ("/api/personas", "/web/personas", "/", "/healthz"):
        native = _get(live, path, host)
        assert native.status_code == 400, (path, native.text)
        assert native.json()["error"]["type"] == "host_not_allowed"
        assert "param" not in native.json()["error"]


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.1:1234", "[::1]:8000"]
)
def test_loopback_names_with_any_port_are_served(live: LiveServer, host: str) -> None:
    assert _get(live, "/v1/models", host).status_code == 200


def test_a_request_without_host_is_refused(live: LiveServer) -> None:
    with connect(live.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        answer = read_answer(sock, time.monotonic())
    assert answer.status == 400 and "without a Host header" in answer.json()["error"]["message"]


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("named")
    settings = Settings(
        home=home, engine="scripted", admin_token="t", load_samples=False,
        personas_dir=write_personas(home / "personas"),
        allowed_hosts="chat.example.com, Other.Example.",
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


def test_configured_names_replace_the_default(named: LiveServer) -> None:
    assert _get(named, "/healthz", "chat.example.com").status_code == 200
    assert _get(named, "/healthz", "other.example:443").status_code == 200
    assert _get(named, "/healthz", "localhost").status_code == 400
    assert _get(named, "/healthz", "evil.example").status_code == 400


def test_defaults_follow_the_listening_address(caplog: pytest.LogCaptureFixture) -> None:
    assert allowed_hosts(Settings(host="127.0.0.1")) == LOOPBACK_NAMES
    assert allowed_hosts(Settings(host="::1")) == LOOPBACK_NAMES
    assert allowed_hosts(Settings(host="0.0.0.0", allowed_hosts="*")) is None
    assert not caplog.records
    with caplog.at_level("WARNING"):
        assert allowed_hosts(Settings(host="0.0.0.0")) is None
    assert "PERSONAE_ALLOWED_HOSTS" in caplog.text
