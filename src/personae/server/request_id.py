"""An ``x-request-id`` on every response, so a client's report can be matched to the server log.

A sane incoming id (what a proxy or client chose: up to 128 letters, digits and ``-_.:``) is
echoed; anything else (missing, huge, control characters, not ASCII) is replaced by a fresh one
rather than refused, so a request is never lost over its tracing header. The id is kept in the
ASGI scope's state for handlers and error logs (``request_id``).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personae.server.errors import HttpError, error_body, is_openai_path

log = logging.getLogger(__name__)

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


# A random prefix per process and a counter: unique without a system call per request.
_PREFIX = secrets.token_hex(6)
_SERIAL = itertools.count(1)


def new_request_id() -> str:
    return f"req_{_PREFIX}{next(_SERIAL):012x}"


def incoming_id(scope: Scope) -> str | None:
    """The client's id when it is one we can echo safely."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state")
    found = state.get("request_id") if isinstance(state, dict) else None
    return found if isinstance(found, str) else None


class RequestId:
    """Pure ASGI middleware: outermost, so refusals by the other middlewares carry the id too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = rid

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, rid.encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s (%s %s) failed", rid, scope.get("method"), scope["path"])
            if not started:  # a bug: still a JSON answer the client can quote
                await _internal_error(scope, rid, send_with_id)
            raise


async def _internal_error(scope: Scope, rid: str, send: Send) -> None:
    message = f"internal server error; report request id {rid} to the server's operator"
    error = HttpError(500, "server_error", "internal_error", message)
    body = json.dumps(error_body(error, is_openai_path(scope["path"]))).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
