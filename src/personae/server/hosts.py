"""A check of the Host header, so a DNS-rebinding web page cannot reach a loopback server.

A browser that loads ``http://evil.example:8000`` after evil.example's address was switched to
127.0.0.1 sends ``Host: evil.example:8000``: answering only the names this server is meant to
be reached by stops the page from reading any answer.
"""

from __future__ import annotations

import ipaddress
import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from personae.server.errors import HttpError, error_body, is_openai_path
from personae.settings import Settings

log = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(address: str) -> bool:
    if address.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The host names to answer, or None for any: PERSONAE_ALLOWED_HOSTS when set (``*``:
    any), else the loopback names when bound to loopback, else any (with a warning)."""
    names = {host_name(part) for part in settings.allowed_hosts.split(",") if part.strip()}
    if "*" in names:
        return None
    if names:
        return frozenset(names)
    if is_loopback(settings.host):
        return LOOPBACK_NAMES
    log.warning(
        "personae listens on %s and answers requests for any host name, so a DNS-rebinding "
        "web page could reach it; set PERSONAE_ALLOWED_HOSTS to the names clients use "
        "(comma-separated, e.g. chat.example.com)",
        settings.host,
    )
    return None


def host_name(value: str) -> str:
    """``Example.com:8000`` -> ``example.com``; ``[::1]:8000`` -> ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        name = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        name = value.partition(":")[0]
    else:
        name = value
    return name.rstrip(".")


class HostCheck:
    """Answers 400 to a request whose Host header names a host not in ``allowed``."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
        name = host_name(given.decode("latin-1"))
        if name in self.allowed:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _refuse(scope, send, name)


async def _refuse(scope: Scope, send: Send, name: str) -> None:
    what = f"host name {name!r}" if name else "a request without a Host header"
    message = (
        f"this server does not answer {what}; it answers only the names in "
        "PERSONAE_ALLOWED_HOSTS (default when bound to loopback: localhost, 127.0.0.1, ::1). "
        "Reach it by one of those, or add this name to PERSONAE_ALLOWED_HOSTS"
    )
    error = HttpError(400, "invalid_request_error", "host_not_allowed", message, "Host")
    payload = json.dumps(error_body(error, is_openai_path(scope["path"]))).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
