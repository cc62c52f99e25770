"""/api for creators: drafts, revisions (diff, rollback, publish), validation, test chats,
Character Card imports into their own personas.

Every save is a revision. A draft save carries the revision it was made on (If-Match); a
newer one answers 409 naming it, and nothing is written. Publishing picks the revision the
channels serve. A creator token reaches only its own personas: others answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from personae.core.revisions import field_changes, persona_yaml, unified_diff
from personae.errors import PersonaNotFound, RevisionConflict
from personae.server.api_routes import _PERSONA_BODY, _persona_from_body
from personae.server.auth import Principal
from personae.server.card_routes import CARD_BODY, card_bytes, imported_json
from personae.server.deps import RuntimeDep, StaffDep, require_api_key
from personae.server.errors import FieldError
from personae.server.sse import collect
from personae.server.wire import persona_record_json
from personae.types import ChatMessage, PersonaRecord, TurnInput

router = APIRouter(prefix="/api", tags=["studio"], dependencies=[Depends(require_api_key)])
MAX_TEST_HISTORY = 100
IfMatch = Annotated[
    str | None,
    Header(
        description="The revision the change was made on (as GET's ETag); a newer one "
        "answers 409 and nothing is saved"
    ),
]


def own(staff: Principal, slug: str) -> None:
    """Another creator's persona is answered as if it did not exist."""
    if not staff.may_touch(slug):
        raise PersonaNotFound(slug)


def expected_revision(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 9:
        raise FieldError(
            "If-Match",
            f"If-Match {if_match[:40]!r} is not a revision number; send the ETag of the "
            'revision you edited, e.g. If-Match: "3"',
        )
    return int(value)


def _record(record: PersonaRecord) -> dict[str, Any]:
    return {**persona_record_json(record), "yaml": persona_yaml(record.persona)}


@router.post("/personas/validate", openapi_extra=_PERSONA_BODY)
async def validate_persona(request: Request, runtime: RuntimeDep, staff: StaffDep) -> Any:
    """Check a persona (JSON, or YAML by Content-Type) as `personae persona validate` does,
    saving nothing: 422 lists every problem with its field; 200 gives the persona as JSON
    and as YAML (what the studio's form and YAML view show)."""
    persona = await _persona_from_body(request)
    runtime.check_avatar(persona, "request body")
    runtime.check_impersonation(persona, "request body")
    return {
        "valid": True,
        "persona": persona.model_dump(mode="json"),
        "yaml": persona_yaml(persona),
    }


@router.get("/personas/{slug}/draft")
async def get_draft(slug: str, response: Response, runtime: RuntimeDep, staff: StaffDep) -> Any:
    """The newest revision (what the studio edits), with its YAML; ETag: its revision."""
    own(staff, slug)
    record = await runtime.store.get_persona(slug, latest=True)
    response.headers["ETag"] = f'"{record.revision}"'
    return _record(record)


@router.put("/personas/{slug}/draft", openapi_extra=_PERSONA_BODY)
async def save_draft(
    slug: str,
    request: Request,
    runtime: RuntimeDep,
    staff: StaffDep,
    if_match: IfMatch = None,
    if_none_match: Annotated[
        str | None, Header(description="`*`: create only; an existing persona answers 409")
    ] = None,
) -> Any:
    """Save a new revision without publishing it (creates the persona as a draft when new).
    With If-Match, a save made on an older revision is refused (409)."""
    own(staff, slug)
    if (
        if_none_match is not None
        and if_none_match.strip() == "*"
        and await runtime.store.has_persona(slug)
    ):
        current = await runtime.store.get_persona(slug, latest=True)
        raise RevisionConflict(slug, 0, current.revision)
    persona = await _persona_from_body(request)
    runtime.check_avatar(persona, "request body")
    runtime.check_impersonation(persona, "request body")
    if persona.id != slug:
        raise FieldError(
            "id",
            f"the body's id {persona.id!r} does not match {slug!r} in the path; make them equal",
        )
    expected = expected_revision(if_match)
    record = await runtime.store.put_persona(persona, draft=True, expected=expected)
    return _record(record)


@router.get("/personas/{slug}/revisions/{revision}")
async def get_revision(slug: str, revision: int, runtime: RuntimeDep, staff: StaffDep) -> Any:
    own(staff, slug)
    await runtime.store.get_persona(slug, latest=True)
    return _record(await runtime.store.get_persona_revision(slug, revision))


@router.get("/personas/{slug}/diff")
async def diff_revisions(
    slug: str,
    runtime: RuntimeDep,
    staff: StaffDep,
    base: int = Query(alias="from", ge=1, le=1_000_000_000, description="Older revision"),
    to: int = Query(ge=1, le=1_000_000_000, description="Newer revision"),
) -> Any:
    """The fields that changed between two revisions, and a unified diff of their YAML."""
    own(staff, slug)
    await runtime.store.get_persona(slug, latest=True)
    before = await runtime.store.get_persona_revision(slug, base)
    after = await runtime.store.get_persona_revision(slug, to)
    changes = field_changes(before.persona, after.persona)
    return {
        "from": base,
        "to": to,
        "changes": [{"field": c.path, "before": c.before, "after": c.after} for c in changes],
        "unified": unified_diff(
            before.persona, after.persona, f"revision {base}", f"revision {to}"
        ),
    }


class RevisionChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    revision: int = Field(ge=1, le=1_000_000_000)


@router.post("/personas/{slug}/publish")
async def publish_revision(
    slug: str, body: RevisionChoice, runtime: RuntimeDep, staff: StaffDep
) -> Any:
    """Serve this revision on every channel from now on (an older one: a quick rollback)."""
    own(staff, slug)
    return _record(await runtime.store.publish_persona(slug, body.revision))


@router.post("/personas/{slug}/rollback")
async def rollback_revision(
    slug: str, body: RevisionChoice, runtime: RuntimeDep, staff: StaffDep, if_match: IfMatch = None
) -> Any:
    """A new draft revision with this revision's content (publish it to serve it)."""
    own(staff, slug)
    expected = expected_revision(if_match)
    return _record(await runtime.store.rollback_persona(slug, body.revision, expected))


class TestMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["user", "assistant"]
    content: str


class TestChat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    history: list[TestMessage] = Field(default=[], max_length=MAX_TEST_HISTORY)
    revision: int | None = Field(
        None, ge=1, le=1_000_000_000, description="Default: the newest revision (the draft)"
    )


@router.post("/personas/{slug}/card", status_code=201, openapi_extra=CARD_BODY)
async def import_own_card(slug: str, request: Request, runtime: RuntimeDep, staff: StaffDep) -> Any:
    """Import a Character Card into one of your own personas (a new revision of it, the card
    kept for export). The card's own name for the persona is ignored: ``slug`` is where it
    goes."""
    own(staff, slug)
    data = await card_bytes(request)
    record, card = await runtime.import_card(data, slug)
    return imported_json(record, card)


@router.post("/personas/{slug}/test")
async def test_chat(slug: str, body: TestChat, runtime: RuntimeDep, staff: StaffDep) -> Any:
    """Run one turn of a revision (default: the draft) without publishing or storing it:
    the history comes with the request; the reply comes back with its trace."""
    own(staff, slug)
    latest = await runtime.store.get_persona(slug, latest=True)
    revision = body.revision or latest.revision
    history = tuple(ChatMessage(m.role, m.content) for m in body.history)
    turn = TurnInput(slug, body.text, history=history, persona_revision=revision)
    runtime.turns.check(turn)
    _, finished = await collect(runtime.turns.run(turn))
    return {
        "revision": revision,
        "reply": finished.text,
        "finish_reason": finished.finish_reason,
        "trace": jsonable_encoder(finished.trace),
    }
