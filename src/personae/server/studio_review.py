"""Studio pages for reviewing replies: the rated replies list, and one conversation with
each reply's turn trace (the rated one opened).

They read through the same store calls as ``GET /api/ratings`` and
``GET /api/conversations/{id}``, with the same scoping: a creator sees their own personas'
conversations only, and another's answers 404 as if it did not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from personae.errors import ConversationNotFound
from personae.runtime import Runtime
from personae.server.analytics_routes import DEFAULT_DAYS, day_range
from personae.server.deps import RuntimeDep
from personae.server.ratings_routes import VALUES, rated_json
from personae.server.studio_routes import (
    picked_persona,
    render_page,
    sign_in_response,
    signed_in_as,
)
from personae.stores.ratings import RatedReply
from personae.types import Trace

router = APIRouter(prefix="/studio", include_in_schema=False)
PAGE_SIZE = 50


@router.get("/ratings")
async def ratings_page(request: Request, runtime: RuntimeDep) -> Response:
    who = await signed_in_as(request)
    if who is None:
        return sign_in_response()
    query = request.query_params
    mine, persona = await picked_persona(runtime, who, query.get("persona"))
    value = query.get("value") if query.get("value") in VALUES else None
    page = _page_number(query.get("page"))
    last = datetime.now(UTC).date()
    first = last - timedelta(days=DEFAULT_DAYS - 1)
    found, total = await runtime.store.rated_replies(
        [persona] if persona else mine, VALUES.get(value or ""), *day_range(first, last),
        PAGE_SIZE, (page - 1) * PAGE_SIZE,
    )  # fmt: skip
    pages = max(1, -(-total // PAGE_SIZE))
    keep = {k: v for k, v in (("persona", persona), ("value", value)) if v}
    return render_page(
        "ratings.html", title="Rated replies", signed_in=True, nav="ratings",
        rows=[rated_json(r) for r in found], total=total, personas=mine, persona=persona,
        value=value, page=page, pages=pages, query=urlencode(keep),
        first=first.isoformat(), last=last.isoformat(),
    )  # fmt: skip


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 7 and int(value) > 0 else 1


@router.get("/conversations/{conversation_id}")
async def conversation_page(
    request: Request, conversation_id: str, runtime: RuntimeDep
) -> Response:
    who = await signed_in_as(request)
    if who is None:
        return sign_in_response()
    if len(conversation_id) > 64:
        raise ConversationNotFound(conversation_id[:64])
    ref = await runtime.store.get_conversation(conversation_id)
    if not who.may_touch(ref.persona_id):  # another creator's: as if it did not exist
        raise ConversationNotFound(conversation_id)
    stored = await runtime.store.conversation_messages(conversation_id)
    turns = {t.reply_message_id: t for t in await runtime.store.conversation_turns(conversation_id)}
    rated = {r.message_id: r for r in await _ratings_of(runtime, ref.persona_id, conversation_id)}
    rows: list[dict[str, Any]] = []
    for message in stored:
        turn = turns.get(message.id)
        rating = rated.get(message.id)
        rows.append({
            "id": message.id, "role": message.role, "content": message.content,
            "at": message.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "trace": trace_view(turn.trace) if turn and turn.trace else None,
            "turn_id": turn.id if turn else None,
            "revision": turn.persona_revision if turn else None,
            "rating": None if rating is None else ("up" if rating.value > 0 else "down"),
            "rating_source": rating.source if rating else None,
        })  # fmt: skip
    return render_page(
        "conversation.html", title="Conversation", signed_in=True, nav="ratings",
        conversation=ref, rows=rows, api_url=f"/api/conversations/{conversation_id}",
    )  # fmt: skip


async def _ratings_of(runtime: Runtime, persona: str, conversation_id: str) -> list[RatedReply]:
    """This conversation's rated replies, whenever they were rated."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    end = datetime.now(UTC) + timedelta(days=1)
    found, _ = await runtime.store.rated_replies(
        [persona], None, start, end, 10_000, 0, conversation_id
    )
    return found


def trace_view(trace: Trace) -> dict[str, Any]:
    """A trace as a summary line and titled rows of cells: the test chat's sections."""
    t = trace.timings
    model: list[list[Any]] = [
        ["Engine", trace.engine], ["Model", trace.model], ["Budget (tokens)", trace.budget],
        ["Finish", trace.finish_reason or "—"],
    ]  # fmt: skip
    if trace.error:
        model.append(["Error", trace.error])
    sections: list[tuple[str, list[list[Any]]]] = [
        ("Model", model),
        ("Prompt sections", [[s.name, f"{s.tokens} tokens", f"{s.messages} messages"]
                             for s in trace.sections]),
    ]  # fmt: skip
    if trace.context:
        sections.append((
            "Memories, lore and documents",
            [[n.source, f"{n.outcome}, {n.tokens} tokens",
              "; ".join(f"{k}: {v}" for k, v in n.reasons) or "—"] for n in trace.context],
        ))  # fmt: skip
    if trace.verdicts:
        sections.append((
            "Guard verdicts",
            [[f"{v.guard} ({v.stage})", v.action, ", ".join(v.categories) or "—"]
             for v in trace.verdicts],
        ))  # fmt: skip
    first = "—" if t.first_token_ms is None else round(t.first_token_ms, 1)
    sections.append((
        "Timings (ms)",
        [["Assembled", round(t.assembled_ms, 1)], ["First token", first],
         ["Done", round(t.done_ms, 1)], ["Guards", round(trace.guard_ms, 1)]],
    ))  # fmt: skip
    usage = trace.usage
    summary = (
        f"Trace: {usage.prompt_tokens} prompt + {usage.completion_tokens} reply tokens, "
        f"{round(t.done_ms)} ms, {trace.status}"
    )
    return {"summary": summary, "sections": sections}
