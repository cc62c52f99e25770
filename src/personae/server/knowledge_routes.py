"""A persona's knowledge base over the API, for its admins and creators:
POST /api/personas/{slug}/knowledge uploads a document (its raw bytes; ``name`` gives the
file name, whose extension says the type), GET lists them, DELETE removes one with its
chunks. The body's size is capped by the server's BodyLimit before the route reads it
(PERSONAE_KNOWLEDGE_MAX_BYTES: a larger Content-Length is refused unread)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from personae.embed.shared import process_embedder
from personae.errors import KnowledgeNotFound
from personae.knowledge.chunk import TYPES
from personae.knowledge.service import MAX_NAME_CHARS, KnowledgeService
from personae.server.deps import RuntimeDep, StaffDep, require_api_key
from personae.server.limits import UploadLimit
from personae.settings import Settings
from personae.stores.knowledge import Document, KnowledgeStore

router = APIRouter(prefix="/api", tags=["knowledge"], dependencies=[Depends(require_api_key)])
_PATH = re.compile(r"/api/personas/[^/]+/knowledge")
_UPLOAD = {
    "requestBody": {
        "required": True,
        "description": "The document's bytes: UTF-8 text or Markdown, HTML, or PDF",
        "content": {
            kind: {"schema": {"type": "string", "format": "binary"}}
            for kind in sorted(set(TYPES.values()) | {"application/octet-stream"})
        },
    },
}


def upload_limit(settings: Settings) -> UploadLimit:
    return UploadLimit(_PATH, settings.knowledge_max_bytes, "PERSONAE_KNOWLEDGE_MAX_BYTES")


def _service(runtime: Any) -> KnowledgeService:
    return KnowledgeService(KnowledgeStore(runtime.store.runner), process_embedder())


def _document_json(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "persona": doc.persona_slug,
        "name": doc.name,
        "media_type": doc.media_type,
        "size": doc.size,
        "sha256": doc.sha256,
        "chunks": doc.chunks,
        "created_at": doc.created_at.isoformat(),
    }


async def _persona(runtime: Any, staff: Any, slug: str) -> None:
    staff.require_persona(slug)
    await runtime.store.get_persona(slug)  # PersonaNotFound (404) if there is none


@router.post("/personas/{slug}/knowledge", status_code=201, openapi_extra=_UPLOAD)
async def upload_document(
    slug: str,
    request: Request,
    runtime: RuntimeDep,
    staff: StaffDep,
    name: str = Query(
        ..., min_length=1, max_length=MAX_NAME_CHARS, description="File name, e.g. guide.md"
    ),
) -> Any:
    """Add a document to the persona's knowledge base: chunked, embedded and indexed."""
    await _persona(runtime, staff, slug)
    data = await request.body()
    doc = await _service(runtime).add(slug, name, data, request.headers.get("content-type"))
    return _document_json(doc)


@router.get("/personas/{slug}/knowledge")
async def list_documents(slug: str, runtime: RuntimeDep, staff: StaffDep) -> Any:
    await _persona(runtime, staff, slug)
    docs = await _service(runtime).store.documents(slug)
    return {"persona": slug, "documents": [_document_json(d) for d in docs]}


@router.delete("/personas/{slug}/knowledge/{document_id}", status_code=204)
async def delete_document(
    slug: str, document_id: int, runtime: RuntimeDep, staff: StaffDep
) -> Response:
    await _persona(runtime, staff, slug)
    if not await _service(runtime).store.delete_document(slug, document_id):
        raise KnowledgeNotFound(slug, document_id)
    return Response(status_code=204)
