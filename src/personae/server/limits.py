"""A cap on request bodies, enforced before any route parses them (413, nothing processed)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personae.server.errors import HttpError, error_body, is_openai_path

# How much of a refused upload is read and dropped so the client sees the answer.
_DRAIN_LIMIT = 64 * 1024 * 1024


class BodyLimit:
    """Buffers each HTTP request body up to ``max_bytes`` and answers 413 past it.

    Bodies here are small JSON or YAML documents that routes read whole anyway, so buffering
    costs nothing extra and lets a body without Content-Length be judged before it is parsed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, size, more=message.get("more_body", False))
                return
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, size: int, more: bool = True
    ) -> None:
        # Read (and drop) the rest of the upload first: answering mid-upload makes the client's
        # socket reset before it can read the 413. Past a hard cap the connection just closes.
        drained = 0
        while more and drained < _DRAIN_LIMIT:
            incoming = await receive()
            if incoming["type"] != "http.request":
                break
            drained += len(incoming.get("body", b""))
            more = incoming.get("more_body", False)
        message = (
            f"request body is {size} bytes or more, over the limit of {self.max_bytes}; "
            "send less, or raise PERSONAE_MAX_BODY_BYTES"
        )
        error = HttpError(413, "invalid_request_error", "request_too_large", message)
        payload = json.dumps(error_body(error, is_openai_path(scope["path"]))).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()  # after the body: wait for the disconnect, as Starlette expects

    return replayed
