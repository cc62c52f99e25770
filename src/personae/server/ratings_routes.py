"""GET /api/ratings: the rated replies of a creator's personas, newest first.

Unlike /api/analytics this lists single replies (an excerpt of each), because a creator's
next step is to open one: ``GET /api/conversations/{id}`` gives its turn with the trace. A
creator sees their own personas' ratings only; an admin sees all.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from personae.server.analytics_routes import day_range, period, scoped_personas
from personae.server.deps import RuntimeDep, StaffDep, require_api_key
from personae.stores.ratings import RatedReply

router = APIRouter(prefix="/api", tags=["analytics"], dependencies=[Depends(require_api_key)])
MAX_PAGE = 200
VALUES = {"up": 1, "down": -1}


@router.get("/ratings")
async def list_ratings(
    runtime: RuntimeDep,
    staff: StaffDep,
    persona: Annotated[
        str | None, Query(max_length=64, description="Default: every persona you may see")
    ] = None,
    value: Annotated[
        Literal["up", "down"] | None, Query(description="Only thumbs up, or only down")
    ] = None,
    start: Annotated[
        date | None, Query(alias="from", description="First day (UTC), inclusive")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    """Rated replies in the period (the last 30 days by default): where each is, how it
    was rated and from where (web, or the channel of a reaction), the reply's first
    characters, and its turn; ``total`` counts them all for paging."""
    first, last = period(start, end)
    slugs = await scoped_personas(runtime, staff, persona)
    found, total = await runtime.store.rated_replies(
        slugs, VALUES.get(value or ""), *day_range(first, last), limit, offset
    )
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "total": total,
        "ratings": [rated_json(r) for r in found],
    }


def rated_json(rated: RatedReply) -> dict[str, Any]:
    return {
        "message_id": rated.message_id,
        "conversation_id": rated.conversation_id,
        "persona": rated.persona,
        "value": "up" if rated.value > 0 else "down",
        "source": rated.source,
        "rated_at": rated.rated_at.isoformat(),
        "reply_excerpt": rated.reply_excerpt,
        "turn_id": rated.turn_id,
        "turn_status": rated.turn_status,
    }
