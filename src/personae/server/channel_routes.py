"""/api/channels: the admin's view of channel connections (admin token only).

Secrets never leave: listings show `env:NAME` references as written and literal values masked.
A connection is validated exactly like an entry of the channels file (422 lists every problem).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request

from personae.channels.registry import ConnectionEntry
from personae.server.deps import RuntimeDep, require_admin, require_api_key
from personae.server.errors import FieldError

router = APIRouter(
    prefix="/api/channels",
    tags=["channels"],
    dependencies=[Depends(require_api_key), Depends(require_admin)],
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


@router.get("")
async def list_channels(runtime: RuntimeDep) -> Any:
    """Every connection (the channels file's and stored ones), secrets masked."""
    return {"channels": [_shown(e) for e in runtime.connections.all()]}


@router.post("", status_code=201, openapi_extra=_BODY)
async def add_channel(request: Request, runtime: RuntimeDep) -> Any:
    kind, fields = await _fields(request)
    entry = await runtime.connections.add(kind, fields)
    return _shown(entry)


@router.delete("/{kind}/{key}")
async def remove_channel(kind: str, key: str, runtime: RuntimeDep) -> Any:
    entry = await runtime.connections.remove(kind, key)
    return {"kind": entry.kind, "key": entry.key, "deleted": True}


@router.post("/{kind}/{key}/test")
async def test_channel(kind: str, key: str, runtime: RuntimeDep) -> Any:
    """One cheap authenticated call to the platform: do the credentials work, and for whom.
    200 either way; ``ok`` says which, ``outcome`` whether trying again may help."""
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as http:
        result = await runtime.connections.check(kind, key, runtime.settings, http)
    return {
        "kind": kind, "key": key, "ok": result.outcome == "ok", "outcome": result.outcome,
        "account": dict(result.account), "code": result.code, "error": result.error,
    }  # fmt: skip
