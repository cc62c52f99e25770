"""Tokens: the admin token (persona changes, conversation reading) and the optional API key."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import Request

from personae.errors import ConfigError, Unauthorized
from personae.private import private_dir
from personae.settings import Settings

TOKEN_FILE = "admin_token"


def ensure_admin_token(settings: Settings) -> tuple[str, Path | None]:
    """The admin token: the setting if given, else $PERSONAE_HOME/admin_token, created once
    (mode 0600) with a fresh random token. Returns (token, the file or None)."""
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value(), None
    path = settings.home / TOKEN_FILE
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    except OSError as err:
        raise ConfigError(
            f"cannot read the admin token at {path}: {err.strerror}; fix its permissions "
            "or set PERSONAE_ADMIN_TOKEN"
        ) from None
    if existing:
        return existing, path
    return _write_new_token(path), path


def _write_new_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    try:
        private_dir(path.parent)
        # Created with 0600 from the start: no moment where others could read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
    except OSError as err:
        raise ConfigError(
            f"cannot write the admin token to {path}: {err.strerror}; make "
            "PERSONAE_HOME writable or set PERSONAE_ADMIN_TOKEN"
        ) from None
    return token


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _matches(given: str | None, expected: str | None) -> bool:
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """Checks a request's Bearer token against the admin token and the API key."""

    def __init__(self, admin_token: str, api_key: str | None) -> None:
        self._admin = admin_token
        self._api_key = api_key

    def is_admin(self, request: Request) -> bool:
        return _matches(bearer_token(request), self._admin)

    def require_admin(self, request: Request) -> None:
        if not self.is_admin(request):
            raise Unauthorized(
                f"{request.method} {request.url.path} needs the admin token: send "
                "`Authorization: Bearer <token>` with the token from $PERSONAE_HOME/admin_token "
                "or PERSONAE_ADMIN_TOKEN"
            )

    def require_api_key(self, request: Request) -> None:
        if self._api_key is None:
            return
        given = bearer_token(request)
        if _matches(given, self._api_key) or _matches(given, self._admin):
            return
        what = "is wrong" if given else "is missing"
        raise Unauthorized(
            f"the API key {what}: send `Authorization: Bearer <key>` with the key set in "
            "PERSONAE_API_KEY (SDKs: api_key=...)"
        )
