"""The studio at /studio: server-rendered pages for creators (htmx for partial updates).

Pages only read, through the same store calls as the documented /api endpoints; every
change the studio makes is an /api call from studio.js, carrying the sign-in cookie and the
X-Personae-Studio header (deps.staff_token). A missing, wrong or revoked token shows the
sign-in page and nothing else.
"""

from __future__ import annotations

import json
import typing
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from personae.core.revisions import field_changes, persona_yaml, unified_diff
from personae.errors import NotFound, PersonaNotFound
from personae.knowledge.chunk import TYPES as KNOWLEDGE_TYPES
from personae.runtime import Runtime
from personae.server.analytics_routes import DEFAULT_DAYS, MAX_DAYS, analytics_json, day_range
from personae.server.auth import MAX_TOKEN_CHARS, Principal
from personae.server.deps import STUDIO_COOKIE, RuntimeDep, principal_of
from personae.server.studio_forms import persona_form
from personae.types import Persona, PersonaRecord
from personae.types.lore import LoreEntry

router = APIRouter(prefix="/studio", include_in_schema=False)
_env = Environment(
    loader=PackageLoader("personae.server", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
COOKIE_MAX_AGE = 12 * 3600  # a shared computer forgets the token by the next day
MAX_FORM_BYTES = 4096
PAGE_SIZE = 100  # personas per list page
_STATIC = {
    "studio.js": ("studio.js", "text/javascript; charset=utf-8"),
    "studio.css": ("studio.css", "text/css; charset=utf-8"),
    "htmx-2.0.11.min.js": ("vendor/htmx-2.0.11.min.js", "text/javascript; charset=utf-8"),
    "chart-4.6.1.umd.min.js": ("vendor/chart-4.6.1.umd.min.js", "text/javascript; charset=utf-8"),
    "htmx-LICENSE.txt": ("vendor/htmx-LICENSE.txt", "text/plain; charset=utf-8"),
    "chart-LICENSE.md": ("vendor/chart-LICENSE.md", "text/plain; charset=utf-8"),
}
STATUS_TEXT = {"draft": "Draft", "published": "Published", "changed": "Unpublished changes"}
TILES = [
    ("conversations", "Conversations"), ("messages", "Messages"), ("replies", "Replies"),
    ("people", "People"), ("replies_per_person", "Replies per person"),
    ("latency_p50_ms", "Latency p50 (ms)"), ("latency_p95_ms", "Latency p95 (ms)"),
    ("ttft_p50_ms", "First token p50 (ms)"), ("ttft_p95_ms", "First token p95 (ms)"),
    ("tokens", "Tokens"), ("failures", "Failures"), ("safety_incidents", "Safety incidents"),
]  # fmt: skip


def render_page(template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    headers = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=http_status, headers=headers)


def sign_in_response(error: str | None = None, status: int = 200) -> HTMLResponse:
    page = render_page("sign_in.html", status, title="Sign in", signed_in=False, error=error)
    page.delete_cookie(STUDIO_COOKIE, path="/")
    return page


async def signed_in_as(request: Request) -> Principal | None:
    token = request.cookies.get(STUDIO_COOKIE, "")
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return await principal_of(request, token)


def json_block(value: Any) -> str:
    """JSON safe inside <script type="application/json"> (no closing tag can appear)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


@router.get("/static/{name}")
async def studio_static(name: str) -> Response:
    found = _STATIC.get(name)
    if found is None:
        raise NotFound(f"no studio file {name!r}")
    data = resources.files("personae.server").joinpath("static", found[0]).read_bytes()
    return Response(data, media_type=found[1], headers={"Cache-Control": "no-cache"})


@router.get("/sign-in")
async def sign_in_page() -> Response:
    return sign_in_response()


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return sign_in_response("That is not a token: paste the token itself.", 400)
    token = parse_qs(raw.decode("utf-8", "replace")).get("token", [""])[0].strip()
    if not token or len(token) > MAX_TOKEN_CHARS or await principal_of(request, token) is None:
        wrong = "That token is wrong, revoked or expired; ask an admin for a new one."
        return sign_in_response(wrong, 401)
    answer = RedirectResponse("/studio", status_code=303)
    answer.set_cookie(
        STUDIO_COOKIE, token, max_age=COOKIE_MAX_AGE, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return answer


@router.post("/sign-out")
async def sign_out() -> Response:
    answer = RedirectResponse("/studio/sign-in", status_code=303)
    answer.delete_cookie(STUDIO_COOKIE, path="/")
    return answer


@router.get("")
async def persona_list(
    request: Request, runtime: RuntimeDep, q: str = "", status: str = "", page: int = 1
) -> Response:
    who = await signed_in_as(request)
    if who is None:
        return sign_in_response()
    records = [r for r in await runtime.store.persona_rows() if who.may_touch(r.slug)]
    kinds = await runtime.store.persona_channels()
    needle = q.strip().lower()[:200]
    matching = [
        r
        for r in records
        if (not needle or needle in f"{r.slug} {r.name} {r.tagline}".lower())
        and (not status or r.status == status)
    ]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = []
    for r in matching[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
        last = r.last
        rows.append({
            "slug": r.slug, "name": r.name, "tagline": r.tagline, "status": r.status,
            "status_text": STATUS_TEXT[r.status], "channels": ", ".join(kinds.get(r.slug, ())),
            "last": last.isoformat() if last else None,
            "last_text": last.strftime("%Y-%m-%d %H:%M UTC") if last else None,
        })  # fmt: skip
    return render_page(
        "list.html", title="Personas", signed_in=True, nav="personas", rows=rows,
        total=len(records), matching=len(matching), q=q[:200], status=status, page=page,
        pages=pages, query=urlencode({"q": q[:200], "status": status}),
    )  # fmt: skip


@router.get("/new")
async def new_persona(request: Request) -> Response:
    if await signed_in_as(request) is None:
        return sign_in_response()
    return _editor(None, [], None, None, None, [], 0)


@router.get("/personas/{slug}")
async def edit_persona(request: Request, slug: str, runtime: RuntimeDep) -> Response:
    who = await signed_in_as(request)
    if who is None:
        return sign_in_response()
    if not who.may_touch(slug):
        raise PersonaNotFound(slug)
    record = await runtime.store.get_persona(slug, latest=True)
    history = await runtime.store.persona_revisions(slug)
    pick = request.query_params
    diff_to = _int(pick.get("to"), record.revision)
    diff_from = _int(pick.get("from"), max(1, diff_to - 1))
    known = {r.revision: r.persona for r in history}
    diff = None
    if diff_from in known and diff_to in known and diff_from != diff_to:
        old, new = known[diff_from], known[diff_to]
        diff = {
            "changes": field_changes(old, new),
            "unified": unified_diff(old, new, f"revision {diff_from}", f"revision {diff_to}"),
        }
    connections = [
        {"kind": c.kind, "key": c.key}
        for c in await runtime.store.list_connections()
        if c.persona == slug
    ]
    return _editor(
        record, history, diff, diff_from, diff_to, connections,
        runtime.settings.knowledge_max_bytes,
    )  # fmt: skip


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and len(value) < 10 else default


def _editor(
    record: PersonaRecord | None,
    history: list[PersonaRecord],
    diff: dict[str, Any] | None,
    diff_from: int | None,
    diff_to: int | None,
    connections: list[dict[str, str]],
    knowledge_max_bytes: int,
) -> Response:
    persona: Persona | None = record.persona if record else None
    base = persona.model_dump(mode="json") if persona else {}
    lore = base.get("lorebook", {}) or {}
    revisions = [
        {"revision": r.revision, "at": r.updated_at.isoformat(),
         "at_text": r.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")}
        for r in reversed(history)
    ]  # fmt: skip
    return render_page(
        "editor.html",
        title=persona.name if persona else "New persona",
        signed_in=True, nav="personas", new=record is None,
        slug=persona.id if persona else "", name=persona.name if persona else "",
        revision=record.revision if record else 0,
        status=record.status if record else "draft",
        status_text=STATUS_TEXT[record.status] if record else "",
        published=record.published_revision if record else None,
        groups=persona_form(persona), base_json=json_block(base),
        yaml=persona_yaml(persona) if persona else "",
        lore=lore.get("entries", []),
        positions=_positions(), revisions=revisions, diff=diff,
        diff_from=diff_from, diff_to=diff_to, connections=connections,
        knowledge_max_bytes=knowledge_max_bytes,
        knowledge_limit_text=_size_text(knowledge_max_bytes),
        knowledge_accept=",".join(sorted(KNOWLEDGE_TYPES)),
    )  # fmt: skip


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:g} MB" if size >= 1_000_000 else f"{size / 1000:g} kB"


def _positions() -> list[str]:
    return [str(x) for x in typing.get_args(LoreEntry.model_fields["position"].annotation)]


@router.get("/analytics")
async def analytics_page(request: Request, runtime: RuntimeDep) -> Response:
    who = await signed_in_as(request)
    if who is None:
        return sign_in_response()
    query = request.query_params
    mine, persona = await picked_persona(runtime, who, query.get("persona"))
    last = _date(query.get("to")) or datetime.now(UTC).date()
    if last >= date.max or (last - date.min).days < MAX_DAYS:
        last = datetime.now(UTC).date()  # a day at the calendar's edge: the default period
    first = _date(query.get("from")) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last or (last - first).days >= MAX_DAYS:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    slugs = [persona] if persona else None if who.is_admin else mine
    found = await runtime.store.analytics(slugs, *day_range(first, last))
    data = analytics_json(found, persona, first, last)
    params = {"from": first.isoformat(), "to": last.isoformat(), "format": "csv"}
    if persona:
        params["persona"] = persona
    return render_page(
        "analytics.html", title="Analytics", signed_in=True, nav="analytics", data=data,
        data_json=json_block(data), personas=mine, persona=persona, is_admin=who.is_admin,
        tiles=TILES, csv_url="/api/analytics?" + urlencode(params),
    )  # fmt: skip


async def picked_persona(
    runtime: Runtime, who: Principal, asked: str | None
) -> tuple[list[str], str | None]:
    """The personas a signed-in page may show, and the one asked for (None: all of them);
    asking for one outside them is a 404, as if it did not exist."""
    mine = [s for s in await runtime.store.persona_slugs() if who.may_touch(s)]
    persona = asked or None
    if persona is not None and persona not in mine:
        raise PersonaNotFound(persona)
    return mine, persona


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        return None
