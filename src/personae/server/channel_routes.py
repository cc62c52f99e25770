"""/api/channels: the admin's view of channel connections (admin token only).

Secrets never leave: listings show `env:NAME` references as written and literal values masked.
A connection is validated exactly like an entry of the channels file (422 lists every problem).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from personae.channels.registry import ConnectionEntry
from personae.errors import NotFound, RateLimited
from personae.server.auth import Principal
from personae.server.deps import RuntimeDep, StaffDep, require_api_key, require_staff
from personae.server.errors import FieldError
from personae.stores.limits import Bucket, subject

router = APIRouter(
    prefix="/api/channels",
    tags=["channels"],
    dependencies=[Depends(require_api_key), Depends(require_staff)],
)
CHECK_TIMEOUT_S = 10.0
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["kind", "persona"],
                    "properties": {
                        "kind": {"type": "string", "description": "whatsapp, messenger, ..."},
                        "persona": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string"},
                    "description": "A channels file entry plus its kind; secrets as env:NAME",
                }
            }
        },
    },
    "responses": {"422": {"description": "The connection failed validation"}},
}


def _shown(entry: ConnectionEntry) -> dict[str, Any]:
    return entry.public()


async def _fields(request: Request) -> tuple[str, dict[str, Any]]:
    raw = await request.body()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, json.JSONDecodeError):
        raise FieldError(
            "body", 'request body is not a JSON object; send {"kind": "whatsapp", ...}'
        ) from None
    if not isinstance(data, dict):
        raise FieldError("body", 'request body must be a JSON object: {"kind": "whatsapp", ...}')
    kind = data.pop("kind", None)
    if not isinstance(kind, str):
        raise FieldError(
            "kind", "name the channel with a string `kind`: whatsapp, messenger, instagram, ..."
        )
    return kind, data


def _persona_of(entry: ConnectionEntry) -> str:
    return str(entry.connection.persona)


def _check_scope(runtime: RuntimeDep, staff: Principal, kind: str, key: str) -> None:
    """A creator reaches only connections bound to their personas; others are not there."""
    if staff.is_admin:
        return
    found = [e for e in runtime.connections.all() if (e.kind, e.key) == (kind, key)]
    if not found or not staff.may_touch(_persona_of(found[0])):
        raise NotFound(f"no channel connection {kind}/{key}; GET /api/channels lists yours")


@router.get("")
async def list_channels(runtime: RuntimeDep, staff: StaffDep) -> Any:
    """Every connection (the channels file's and stored ones), secrets masked; a creator
    sees those of their personas."""
    entries = [e for e in runtime.connections.all() if staff.may_touch(_persona_of(e))]
    return {"channels": [_shown(e) for e in entries]}


@router.post("", status_code=201, openapi_extra=_BODY)
async def add_channel(request: Request, runtime: RuntimeDep, staff: StaffDep) -> Any:
    kind, fields = await _fields(request)
    persona = fields.get("persona")
    if isinstance(persona, str):
        staff.require_persona(persona)
    elif not staff.is_admin:
        raise FieldError("persona", "name the persona the connection answers as: `persona`")
    entry = await runtime.connections.add(kind, fields)
    return _shown(entry)


@router.delete("/{kind}/{key}")
async def remove_channel(kind: str, key: str, runtime: RuntimeDep, staff: StaffDep) -> Any:
    _check_scope(runtime, staff, kind, key)
    entry = await runtime.connections.remove(kind, key)
    return {"kind": entry.kind, "key": entry.key, "deleted": True}


@router.post("/{kind}/{key}/test")
async def test_channel(kind: str, key: str, runtime: RuntimeDep, staff: StaffDep) -> Any:
    """One cheap authenticated call to the platform: do the credentials work, and for whom.
    200 either way; ``ok`` says which, ``outcome`` whether trying again may help."""
    _check_scope(runtime, staff, kind, key)
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as http:
        result = await runtime.connections.check(kind, key, runtime.settings, http)
    return {
        "kind": kind, "key": key, "ok": result.outcome == "ok", "outcome": result.outcome,
        "account": dict(result.account), "code": result.code, "error": result.error,
    }  # fmt: skip


# A platform's recipient id: a phone number, a page- or account-scoped id, a Telegram chat id
# or @channel name. Nothing else reaches the platform's URL or body.
RECIPIENT = r"^[A-Za-z0-9@_.:+-]{1,64}$"
TEST_TEXT = "Test message from personae: this connection can send."
# Printable text with line breaks and tabs; other control characters are refused.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TestMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str = Field(
        min_length=1, max_length=64, json_schema_extra={"pattern": RECIPIENT},
        description="The recipient's id on the platform: a WhatsApp phone number in digits, "
        "a Messenger page-scoped id, an Instagram-scoped id, a Telegram chat id or @channel",
    )  # fmt: skip
    text: str = Field(TEST_TEXT, min_length=1, max_length=1000)

    @field_validator("to")
    @classmethod
    def _recipient(cls, value: str) -> str:
        if not re.fullmatch(RECIPIENT, value):
            raise ValueError(
                "a recipient id is letters, digits and @ _ . : + - only (no spaces): "
                "a phone number in digits like 15550001111, or a chat id like 4242"
            )
        return value

    @field_validator("text")
    @classmethod
    def _printable(cls, value: str) -> str:
        found = _CONTROL.search(value)
        if found:
            raise ValueError(
                f"control character {found.group()!r} at {found.start()}; send printable text"
            )
        return value


# A burst of ten, then one every six seconds.
TEST_MESSAGES_PER_MIN = 10
TEST_MESSAGES_BURST = 10


@router.post("/{kind}/{key}/test-message")
async def send_test_message(
    kind: str, key: str, body: TestMessage, runtime: RuntimeDep, staff: StaffDep
) -> Any:
    """Send one real message through the connection (the channel's own send). 200 either way:
    ``sent`` with the platform's ``message_ids``, or its ``outcome``, ``code`` and ``error``."""
    _check_scope(runtime, staff, kind, key)
    # Real messages through the operator's account: a few a minute per connection, whoever
    # asks (a creator's token must not turn the account into a bulk sender).
    bucket = Bucket(
        subject("test-message", kind, key),
        TEST_MESSAGES_PER_MIN / 60,
        TEST_MESSAGES_BURST,
        "test message",
    )
    admission = await runtime.store.admit([bucket], time.time())
    if admission.retry_after > 0:
        raise RateLimited(admission.what, admission.retry_after)
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as http:
        result = await runtime.connections.send_test(
            kind, key, body.to, body.text, runtime.settings, http
        )
    return {
        "kind": kind, "key": key, "to": body.to, "sent": result.outcome == "sent",
        "outcome": result.outcome, "message_ids": list(result.message_ids),
        "code": result.code, "error": result.error, "retry_after": result.retry_after,
    }  # fmt: skip
