"""What every webhook handler shares: the Meta handshake, signatures, JSON bodies, answers.

Secrets are compared with ``hmac.compare_digest`` so a wrong guess takes as long as a near one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from personae.contracts import WebhookRequest, WebhookResult

log = logging.getLogger("personae.channels")

SIGNATURE_HEADER = "x-hub-signature-256"
TELEGRAM_SECRET_HEADER = "x-telegram-bot-api-secret-token"


class BadPayload(ValueError):
    """The body is not the JSON object the platform documents; the message says where."""


# What normalising a body of the wrong shape can raise: our own checks, or a field that is
# missing or of the wrong type deeper inside; each is a 400, never a crash.
MALFORMED = (KeyError, TypeError, ValueError)


def malformed(err: Exception) -> str:
    return f"missing field {err.args[0]!r}" if isinstance(err, KeyError) else str(err)


def answer(status: int, body: str, events: Iterable[Any] = ()) -> WebhookResult:
    return WebhookResult(status=status, body=body, events=tuple(events))


def meta_handshake(request: WebhookRequest, verify_tokens: Iterable[str]) -> WebhookResult:
    """Echo ``hub.challenge`` only for ``hub.mode=subscribe`` with a known verify token."""
    mode = request.query.get("hub.mode", "")
    token = request.query.get("hub.verify_token", "")
    challenge = request.query.get("hub.challenge", "")
    known = [t for t in verify_tokens if hmac.compare_digest(t.encode(), token.encode())]
    if mode == "subscribe" and known and challenge:
        return answer(200, challenge)
    return answer(403, "verification failed: hub.mode must be subscribe and hub.verify_token match")


def meta_signature_ok(request: WebhookRequest, app_secret: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex>`` is HMAC-SHA256 of the raw body under the app secret."""
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").lower())


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for ``body`` (for tests and tools)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def telegram_secret_ok(request: WebhookRequest, secret: str) -> bool:
    given = request.headers.get(TELEGRAM_SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), secret.encode())


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadPayload(f"body is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadPayload("body is not a JSON object")
    return data


def field(data: object, key: str, kind: type, where: str) -> Any:
    """``data[key]`` checked to be ``kind``; raises BadPayload naming the path."""
    if not isinstance(data, dict) or key not in data:
        raise BadPayload(f"{where}.{key} is missing")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadPayload(f"{where}.{key} is not {kind.__name__}")
    return value


def dicts(data: object, key: str, where: str) -> list[dict[str, Any]]:
    """An optional list of objects; absent is empty, anything else malformed."""
    if not isinstance(data, dict) or key not in data:
        return []
    items = data[key]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadPayload(f"{where}.{key} is not a list of objects")
    return items


def from_seconds(value: object) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except ValueError:
        raise BadPayload(f"timestamp {value!r} is not a number of seconds") from None


def from_millis(value: object) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadPayload(f"timestamp {value!r} is not a number of milliseconds")
    return datetime.fromtimestamp(value / 1000, UTC)


def obj(data: object, key: str) -> dict[str, Any]:
    """An optional nested object; absent or not an object is empty."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}
