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
from personae.errors import NotFound
from personae.server.auth import Principal
from personae.server.deps import RuntimeDep, StaffDep, require_api_key, require_staff
from personae.server.errors import FieldError

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
