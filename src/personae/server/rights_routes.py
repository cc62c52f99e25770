"""A person's data rights over HTTP, and the admin's abuse controls.

- /api/people/{id}/export and DELETE /api/people/{id}: an admin exports or deletes a person
  (everything stored about them: stores/people.py).
- /api/blocklist: people and IP addresses whose messages are refused.
- /web/export: the web chat's person downloads their own data (their cookie says who).
- /export/{token}: the download link the /export chat command gives on a messaging channel;
  the token is the credential, valid for minutes (PERSONAE_EXPORT_LINK_TTL_S).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from personae.errors import NotFound
from personae.server.deps import AdminDep, RuntimeDep, require_api_key
from personae.server.errors import FieldError
from personae.server.web_routes import web_person_id

admin_router = APIRouter(prefix="/api", tags=["rights"], dependencies=[Depends(require_api_key)])
router = APIRouter(tags=["rights"])
_DOWNLOAD: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}}}}


def download(data: dict[str, Any], person_id: str) -> Response:
    """The export as a JSON file the browser saves rather than shows."""
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    headers = {
        "Content-Disposition": f'attachment; filename="personae-export-{person_id}.json"',
        "Cache-Control": "no-store",
    }
    return Response(body, media_type="application/json", headers=headers)


# ---------------------------------------------------------------- admin: a person's data


@admin_router.get("/people/{person_id}/export", response_class=Response, responses=_DOWNLOAD)
async def export_person(person_id: str, runtime: RuntimeDep, _: AdminDep) -> Response:
    """Everything stored about the person, as a JSON file (admin only)."""
    return download(await runtime.store.export_person(person_id), person_id)


@admin_router.delete("/people/{person_id}")
async def delete_person(person_id: str, runtime: RuntimeDep, _: AdminDep) -> Any:
    """Delete every row about the person in every table, and their media files (admin only)."""
    files = await runtime.store.delete_person(person_id)
    return {"person_id": person_id, "deleted": True, "files_removed": files}


# ---------------------------------------------------------------- admin: the blocklist


class NewBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["person", "ip"]
    value: str = Field(min_length=1, max_length=255, description="A person id or an IP address")
    reason: str = Field("", max_length=1000)


def _block_json(kind: str, value: str, reason: str, created_at: Any) -> dict[str, Any]:
    return {"kind": kind, "value": value, "reason": reason, "created_at": created_at}


def _checked(kind: str, value: str) -> str:
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise FieldError(
                "value", f"{value!r} is not an IP address (e.g. 203.0.113.7)"
            ) from None
    return value


@admin_router.get("/blocklist")
async def list_blocks(runtime: RuntimeDep, _: AdminDep) -> Any:
    blocks = await runtime.store.list_blocks()
    return {"blocked": [_block_json(b.kind, b.value, b.reason, b.created_at) for b in blocks]}


@admin_router.post("/blocklist", status_code=201)
async def add_block(body: NewBlock, runtime: RuntimeDep, _: AdminDep) -> Any:
    """Refuse every later message of a person (by person id) or from an IP address."""
    block = await runtime.store.add_block(body.kind, _checked(body.kind, body.value), body.reason)
    return _block_json(block.kind, block.value, block.reason, block.created_at)


@admin_router.delete("/blocklist/{kind}/{value}")
async def remove_block(kind: str, value: str, runtime: RuntimeDep, _: AdminDep) -> Any:
    if kind not in ("person", "ip") or not await runtime.store.remove_block(kind, value):
        raise NotFound(f"{kind} {value!r} is not blocked; GET /api/blocklist lists the blocks")
    return {"kind": kind, "value": value, "deleted": True}


# ---------------------------------------------------------------- a person's own download


@router.get("/web/export", response_class=Response, responses=_DOWNLOAD)
async def web_export(request: Request, runtime: RuntimeDep) -> Response:
    """The web chat person's own data (their cookie names them), as a JSON file."""
    person_id = await web_person_id(request, runtime)
    if person_id is None:
        raise NotFound("nothing is stored about you in the web chat yet")
    return download(await runtime.store.export_person(person_id), person_id)


@router.get("/export/{token}", response_class=Response, responses=_DOWNLOAD)
async def export_link(token: str, runtime: RuntimeDep) -> Response:
    """A download link from the /export chat command on a messaging channel."""
    if len(token) > 128:
        raise NotFound("this export link is unknown or expired; send /export again")
    data = await runtime.store.export_by_token(token)
    return download(data, str(data["person_id"]))
