"""Character Cards over the admin API: POST /api/cards imports a card file (the raw bytes of a
JSON, PNG or CHARX card), GET /api/personas/{slug}/card exports one. Importing a new persona is for
admins; a creator imports into their own personas through the studio API (studio_api.py) and
exports their own personas here (another's answers 404, as if it did not exist)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from personae.core.cards import ImportedCard, read_card
from personae.core.charx import MAX_ARCHIVE_BYTES
from personae.errors import CardInvalid, PersonaNotFound
from personae.server.deps import RuntimeDep, StaffDep, require_admin, require_api_key
from personae.server.errors import FieldError
from personae.server.wire import persona_record_json
from personae.types import SLUG_PATTERN, PersonaRecord

router = APIRouter(
    prefix="/api",
    tags=["cards"],
    dependencies=[Depends(require_api_key), Depends(require_admin)],
)
# Export: admins, and creators for the personas on their token.
export_router = APIRouter(prefix="/api", tags=["cards"], dependencies=[Depends(require_api_key)])
CARD_BODY = {
    "requestBody": {
        "required": True,
        "description": "A card file as it is: JSON, PNG (tEXt chara/ccv3) or CHARX (zip)",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {"422": {"description": "The persona made from the card failed validation"}},
}
_CARD_FILE = {
    "responses": {
        "200": {
            "description": "The card file",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
}
_TYPES = {"json": "application/json", "png": "image/png", "charx": "application/zip"}


@router.post("/cards", status_code=201, openapi_extra=CARD_BODY)
async def import_card(
    request: Request,
    runtime: RuntimeDep,
    slug: str | None = Query(None, alias="id", pattern=SLUG_PATTERN, description="Persona id"),
    replace: bool = Query(False, description="Replace a persona that has this id"),
) -> Any:
    """Import a Character Card (V1, V2 or V3) as a persona with its lorebook and greetings."""
    data = await card_bytes(request)
    if slug is not None and not replace and await runtime.store.has_persona(slug):
        raise FieldError("id", f"persona {slug!r} already exists; add replace=true to replace it")
    if slug is None and not replace:
        found = read_card(data).persona.id  # checks the card too: nothing is written if bad
        if await runtime.store.has_persona(found):
            raise FieldError(
                "id", f"persona {found!r} already exists; add replace=true, or give another id"
            )
    record, card = await runtime.import_card(data, slug)
    return imported_json(record, card)


async def card_bytes(request: Request) -> bytes:
    """The request body as a card file, refused when empty or over the archive limit."""
    data = await request.body()
    if not data:
        raise CardInvalid("the request body is empty; send the card file's bytes")
    if len(data) > MAX_ARCHIVE_BYTES:
        raise CardInvalid(f"the card file is {len(data)} bytes; at most {MAX_ARCHIVE_BYTES}")
    return data


def imported_json(record: PersonaRecord, card: ImportedCard) -> dict[str, Any]:
    body = persona_record_json(record)
    lore = record.persona.lorebook
    body["card"] = {
        "spec": card.spec,
        "container": card.container,
        "warnings": list(card.warnings),
        "lorebook_entries": len(lore.entries) if lore else 0,
    }
    return body


@export_router.get("/personas/{slug}/card", openapi_extra=_CARD_FILE)
async def export_card(
    slug: str,
    runtime: RuntimeDep,
    staff: StaffDep,
    fmt: Literal["v2", "v3", "charx"] = Query("v3", alias="format"),
    png: bool = Query(False, description="A PNG with chara (V2) and ccv3 (V3) chunks"),
) -> Response:
    """Export a persona as a Character Card; an imported card keeps every field it had."""
    if not staff.may_touch(slug):
        raise PersonaNotFound(slug)
    if png and fmt == "charx":
        raise FieldError("png", "png is for v2/v3 cards; a CHARX is a zip of its own")
    data = await runtime.export_card(slug, fmt, png)
    kind = "png" if png else "charx" if fmt == "charx" else "json"
    suffix = {"png": "png", "charx": "charx", "json": "json"}[kind]
    return Response(
        data,
        media_type=_TYPES[kind],
        headers={"Content-Disposition": f'attachment; filename="{slug}.{suffix}"'},
    )
