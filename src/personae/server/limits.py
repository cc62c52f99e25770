"""Caps on request bodies in size (413) and time (408), enforced before any route parses them."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personae.media.sniff import HEAD_BYTES, head_type
from personae.server.errors import HttpError, error_body, is_openai_path

# How much of a refused upload is read and dropped so the client sees the answer.
_DRAIN_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class UploadLimit:
    """A larger cap for uploads to the paths ``pattern`` matches (a document, not JSON)."""

    pattern: re.Pattern[str]
    max_bytes: int
    setting: str  # the environment variable that raises it, for the 413's advice
    # Only for bodies whose Content-Type starts with this (one path, a cap per kind of file).
    content_type: str = ""
    # The body's first bytes must show that kind too: a large upload that only claims it is
    # refused at its start, not after buffering it up to the (larger) cap of that kind.
    check_head: bool = False

    @classmethod
    def at(
        cls,
        path: str,
        max_bytes: int,
        setting: str,
        content_type: str = "",
        check_head: bool = False,
    ) -> UploadLimit:
        """The limit of one exact path (for one kind of Content-Type, when given)."""
        return cls(re.compile(re.escape(path)), max_bytes, setting, content_type, check_head)

    def applies(self, scope: Scope) -> bool:
        if not self.pattern.fullmatch(scope["path"]):
            return False
        return not self.content_type or _content_type(scope).startswith(self.content_type)


class BodyLimit:
    """Buffers each HTTP request body up to ``max_bytes`` and answers 413 past it, or 408 when
    the whole body has not arrived within ``timeout_s`` (a client that declares more than it
    sends, or trickles it, would otherwise hold its request open forever).

    Bodies here are small JSON or YAML documents that routes read whole anyway, so buffering
    costs nothing extra and lets a body without Content-Length be judged before it is parsed.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_s: float,
        uploads: Sequence[UploadLimit] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        # Routes that take uploads (photos, audio, documents): their own cap, and its setting.
        self.uploads = tuple(uploads)

    def upload_for(self, scope: Scope) -> UploadLimit | None:
        """The upload limit that applies to this request, if any (the first that does)."""
        if scope.get("method") == "POST":
            for upload in self.uploads:
                if upload.applies(scope):
                    return upload
        return None

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        """The body limit of this request's path, and the setting that raises it."""
        upload = self.upload_for(scope)
        if upload is not None:
            return upload.max_bytes, upload.setting
        return self.max_bytes, "PERSONAE_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                body = await self._read(scope, receive, send)
        except TimeoutError:
            await _answer(scope, send, _too_slow(self.timeout_s))
            return
        if body is not None:
            await self.app(scope, _replay([body], receive), send)

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> Message | None:
        """The whole body as one message; None when a 413 was sent instead."""
        limit, _ = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # A declared size past the drain cap would be cut off unanswered anyway: answer
            # at once, without waiting for any of it.
            await self._refuse(scope, receive, send, declared, more=declared <= _DRAIN_LIMIT)
            return None
        upload = self.upload_for(scope)
        head_checked = upload is None or not upload.check_head
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message  # the client left: let the app see the disconnect
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await self._refuse(scope, receive, send, size, more=more)
                return None
            if not head_checked and more and size >= HEAD_BYTES:
                # Still arriving: judge its start now (a whole small body is the route's).
                head_checked = True
                mismatch = _head_mismatch(b"".join(chunks)[:HEAD_BYTES], _content_type(scope))
                if mismatch is not None:
                    await self._drain(receive, more)
                    await _answer(scope, send, mismatch)
                    return None
            if not more:
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, size: int, more: bool = True
    ) -> None:
        await self._drain(receive, more)
        limit, setting = self.limit_for(scope)
        message = (
            f"request body is {size} bytes or more, over the limit of {limit}; "
            f"send less, or raise {setting}"
        )
        await _answer(
            scope, send, HttpError(413, "invalid_request_error", "request_too_large", message)
        )

    @staticmethod
    async def _drain(receive: Receive, more: bool) -> None:
        # Read (and drop) the rest of the upload first: answering mid-upload makes the client's
        # socket reset before it can read the answer. Past a hard cap the connection just closes.
        drained = 0
        while more and drained < _DRAIN_LIMIT:
            incoming = await receive()
            if incoming["type"] != "http.request":
                break
            drained += len(incoming.get("body", b""))
            more = incoming.get("more_body", False)


def _head_mismatch(head: bytes, declared: str) -> HttpError | None:
    """A 400 when the body's start is not of the kind its Content-Type declares."""
    found = head_type(head, declared)
    if found.split("/", 1)[0] == declared.split("/", 1)[0]:
        return None
    message = (
        f"the upload was not accepted: it is declared as {declared.split(';')[0]} but its "
        f"content is {found}; send it with its real type"
    )
    return HttpError(400, "invalid_request_error", None, message)


def _too_slow(timeout_s: float) -> HttpError:
    message = (
        f"the request body did not arrive in full within {timeout_s:g} s; send the whole body "
        "at once (and a Content-Length that matches it), or raise PERSONAE_BODY_TIMEOUT_S"
    )
    return HttpError(408, "invalid_request_error", "request_timeout", message)


async def _answer(scope: Scope, send: Send, error: HttpError) -> None:
    """The error in the surface's shape; the connection closes after it."""
    payload = json.dumps(error_body(error, is_openai_path(scope["path"]))).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
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


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1")).strip().lower()
    return ""
