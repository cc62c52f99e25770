"""Tokens: the admin token (persona changes, conversation reading), the stored admin and
creator tokens (`personae token create`) and the API keys."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from personae.errors import ConfigError, Forbidden, Unauthorized
from personae.private import private_dir
from personae.server.identity import ADMIN_CLIENT, LOCAL_CLIENT
from personae.settings import Settings

TOKEN_FILE = "admin_token"
# Far longer than any token we issue; a longer header is refused before it is hashed.
MAX_TOKEN_CHARS = 512


@dataclass(frozen=True, slots=True)
class Principal:
    """Who holds an admin or creator token: an ``admin`` reaches everything, a ``creator``
    only the personas named on their token (and those personas' conversations and channels).
    ``token_id`` is None for the bootstrap admin token (PERSONAE_ADMIN_TOKEN or the file)."""

    role: str
    personas: frozenset[str] = frozenset()
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_touch(self, slug: str) -> bool:
        return self.is_admin or slug in self.personas

    def require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise Forbidden(
                f"{what} is for admins only; this is a creator token (scoped to "
                f"{', '.join(sorted(self.personas)) or 'no persona'})"
            )

    def require_persona(self, slug: str) -> None:
        if not self.may_touch(slug):
            raise Forbidden(
                f"this creator token does not cover persona {slug!r}; it covers "
                f"{', '.join(sorted(self.personas)) or 'no persona'} (ask an admin for a token "
                f"with --persona {slug})"
            )


BOOTSTRAP_ADMIN = Principal("admin")


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
    if scheme.lower() != "bearer" or not value.strip() or len(value) > MAX_TOKEN_CHARS:
        return None
    return value.strip()


def _matches(given: str | None, expected: str | None) -> bool:
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """Checks a request's Bearer token against the admin token and the API keys, and names
    the client that sent it (the namespace of the people it speaks for: identity.py)."""

    def __init__(self, admin_token: str, client_keys: dict[str, str]) -> None:
        if admin_token in client_keys.values():
            raise ConfigError(
                "an API key equals the admin token; give PERSONAE_API_KEY(S) keys of their own"
            )
        self._admin = admin_token
        self._keys = dict(client_keys)

    def is_admin(self, request: Request) -> bool:
        return _matches(bearer_token(request), self._admin)

    def is_admin_token(self, token: str) -> bool:
        return _matches(token, self._admin)

    def credential_client(self, request: Request) -> str | None:
        """The client whose API key (or the admin token) the request carries, else None."""
        given = bearer_token(request)
        if _matches(given, self._admin):
            return ADMIN_CLIENT
        # Every key is compared, so the time taken says nothing about which one matched.
        found = [name for name, key in self._keys.items() if _matches(given, key)]
        return found[0] if found else None

    def require_api_key(self, request: Request) -> None:
        if not self._keys or self.credential_client(request) is not None:
            return
        what = "is wrong" if bearer_token(request) else "is missing"
        raise Unauthorized(
            f"the API key {what}: send `Authorization: Bearer <key>` with a key set in "
            "PERSONAE_API_KEY or PERSONAE_API_KEYS (SDKs: api_key=...)"
        )

    def caller(self, request: Request) -> str:
        """The /v1 caller's client: its key's, or `local` when no key is configured (the
        server then listens on loopback only, unless the operator opted out)."""
        self.require_api_key(request)
        return self.credential_client(request) or LOCAL_CLIENT

    def require_client(self, request: Request) -> str:
        """Conversation writes on /api: the client of an API key or the admin token; never
        anonymous, even with no API key configured."""
        client = self.credential_client(request)
        if client is None:
            raise Unauthorized(
                f"{request.method} {request.url.path} needs an API key or the admin token: "
                "send `Authorization: Bearer <key>` with a key from PERSONAE_API_KEY(S), or the "
                "admin token from $PERSONAE_HOME/admin_token"
            )
        return client


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only. Any name but localhost counts
    as public: it may resolve to anything."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_without_key(settings: Settings) -> str | None:
    """Why `personae up` must not start as configured, or None. Without an API key every
    caller is the one client `local`: acceptable on loopback, an open door anywhere else."""
    if settings.client_keys() or settings.allow_public_without_key or is_loopback(settings.host):
        return None
    return (
        f"refusing to listen on {settings.host!r} with no API key: anyone who can reach it "
        "could talk as any person of the keyless client 'local' and continue their "
        "conversations. Either set PERSONAE_API_KEY (or PERSONAE_API_KEYS) and give your "
        "clients the key, or listen on loopback only (--host 127.0.0.1), or, on a network "
        "you trust, opt in with PERSONAE_ALLOW_PUBLIC_WITHOUT_KEY=true "
        "(--allow-public-without-key)"
    )
