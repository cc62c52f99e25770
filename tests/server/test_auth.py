"""Tokens: the generated admin token file, and the API key on /v1 and /api."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr

from personae.errors import ConfigError
from personae.server.auth import Guard, ensure_admin_token
from personae.settings import Settings

from .live import API_KEY, LiveServer


def test_admin_token_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    token, path = ensure_admin_token(settings)
    assert path == tmp_path / "home" / "admin_token"
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_admin_token(settings) == (token, path)


def test_admin_token_setting_wins(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, admin_token=SecretStr("from-env"))
    assert ensure_admin_token(settings) == ("from-env", None)
    assert not (tmp_path / "admin_token").exists()


def test_api_key_guards_v1_and_api(locked: LiveServer) -> None:
    with httpx.Client(base_url=locked.url) as client:
        assert client.get("/healthz").status_code == 200
        missing = client.get("/v1/models")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "invalid_api_key"
        assert client.get("/api/personas").status_code == 401
        assert client.get("/web/personas").status_code == 200  # the web chat is public
        good = {"Authorization": f"Bearer {API_KEY}"}
        assert client.get("/api/personas", headers=good).status_code == 200
        # The generated admin token also passes the API-key check.
        admin_token = (locked.settings.home / "admin_token").read_text().strip()
        admin = {"Authorization": f"Bearer {admin_token}"}
        assert client.get("/api/conversations", headers=admin).status_code == 200
        assert client.get("/api/conversations", headers=good).status_code == 401


def test_api_key_with_the_openai_sdk(locked: LiveServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{locked.url}/v1", api_key="wrong", max_retries=0).models.list()
    sdk = OpenAI(base_url=f"{locked.url}/v1", api_key=API_KEY, max_retries=0)
    assert "echo-friend" in {m.id for m in sdk.models.list()}


def test_the_single_api_key_is_the_client_default(locked: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=locked.url, headers=headers) as client:
        body = {"persona": "echo-friend", "user": "dan", "channel": "openai"}
        opened = client.post("/api/conversations", json=body)
        assert opened.status_code == 201, opened.text
        assert (opened.json()["channel"], opened.json()["client"]) == ("openai", "default")


def test_an_api_key_may_not_be_the_admin_token() -> None:
    with pytest.raises(ConfigError, match="equals the admin token"):
        Guard("same-secret", {"alpha": "same-secret"})


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"Alpha": "k"}, "client name 'Alpha' is not allowed"),
        ({"admin": "k"}, "client name 'admin' is not allowed"),
        ({"a:b": "k"}, "client name 'a:b' is not allowed"),
        ({"a": "k", "b": "k"}, "two API clients share one key"),
    ],
)
def test_api_keys_are_checked(keys: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Settings(api_keys=keys)
