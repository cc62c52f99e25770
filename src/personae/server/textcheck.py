"""Refuses JSON bodies whose text is not valid Unicode, before any route reads them.

JSON may spell a lone UTF-16 surrogate (``"\\ud800"``) and Python's parser keeps it; the string
then fails at the first UTF-8 encode (the store, the response) as a 500. One check here covers
every JSON route in one place: a 400 naming the field, in the surface's error shape.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personae.core.documents import find_flaw
from personae.server.errors import HttpError, error_body, is_openai_path

# Webhook bodies are the platforms': their signature covers the bytes as sent, and the
# channel layer replaces lone surrogates in the text it keeps (channels/describe.py).
WEBHOOKS = "/webhooks/"

# A surrogate escape, or the raw bytes of one (json.loads decodes bytes with "surrogatepass").
# Most bodies have neither, so they are never parsed twice.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


class BodyTextCheck:
    """Answers 400 for a JSON body holding a lone surrogate; passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(WEBHOOKS):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:  # the body limit outside this has bounded the size already
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        problem = _problem(body)
        if problem is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        error = HttpError(400, "invalid_request_error", None, problem[1], problem[0])
        payload = json.dumps(error_body(error, is_openai_path(scope["path"]))).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _problem(body: bytes) -> tuple[str, str] | None:
    """(param, message) when ``body`` is JSON holding a lone surrogate, else None."""
    if not _MAYBE_SURROGATE.search(body):
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route says what is wrong with it
    flaw = find_flaw(data, max_depth=None)
    if flaw is None:
        return None
    param = flaw.path or "body"
    return param, f"field {param!r}: {flaw.message}; {flaw.hint}"


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
