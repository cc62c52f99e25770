"""Fixtures: real personae servers on loopback ports, shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from personae.settings import Settings

from .live import ADMIN_TOKEN, API_KEY, CLIENT_KEYS, LiveServer, start_server, write_personas


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(
        home=home,
        engine="scripted",
        admin_token=ADMIN_TOKEN,
        personas_dir=write_personas(home / "personas"),
        load_samples=True,
        parallel=1,
        context_window=1024,
        threads=2,
        max_message_chars=500,
    )
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with an API key and a generated admin token file."""
    home = tmp_path_factory.mktemp("locked")
    settings = Settings(
        home=home, engine="scripted", api_key=API_KEY, load_samples=False,
        personas_dir=write_personas(home / "personas"),
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with two named API keys (PERSONAE_API_KEYS): clients alpha and beta."""
    home = tmp_path_factory.mktemp("clients")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, api_keys=CLIENT_KEYS,
        load_samples=False, personas_dir=write_personas(home / "personas"),
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as http:
        yield http


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=live.url, timeout=60, headers=headers) as http:
        yield http
