"""GET /api/analytics: a period's aggregates as JSON or CSV (admin or creator token).

Counts, rates and timings only: no message text, no person ids leave this endpoint.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from personae.errors import PersonaNotFound
from personae.runtime import Runtime
from personae.server.auth import Principal
from personae.server.deps import RuntimeDep, StaffDep, require_api_key
from personae.server.errors import FieldError
from personae.stores.analytics import Analytics

router = APIRouter(prefix="/api", tags=["analytics"], dependencies=[Depends(require_api_key)])
MAX_DAYS = 366
DEFAULT_DAYS = 30


@router.get(
    "/analytics",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_analytics(
    runtime: RuntimeDep,
    staff: StaffDep,
    persona: Annotated[
        str | None, Query(max_length=64, description="Default: every persona")
    ] = None,
    start: Annotated[
        date | None, Query(alias="from", description="First day (UTC), inclusive")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: a download")] = "json",
) -> Any:
    """Conversations, messages, active people by day and week, retention cohorts, replies
    per person, latency and time to first token (p50/p95), tokens, failures, safety incidents
    by category, ratings. A creator sees their own personas only."""
    first, last = period(start, end)
    slugs = await scoped_personas(runtime, staff, persona)
    everyone = staff.is_admin and persona is None  # read unfiltered, not through 1,000 slugs
    found = await runtime.store.analytics(None if everyone else slugs, *day_range(first, last))
    body = analytics_json(found, persona, first, last)
    if format == "csv":
        name = f"analytics-{persona or 'all'}-{first}-{last}.csv"
        return Response(
            to_csv(body),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return body


def period(start: date | None, end: date | None) -> tuple[date, date]:
    """The first and last day (UTC) asked for: the last DEFAULT_DAYS up to today by default."""
    last = end or datetime.now(UTC).date()
    if last >= date.max or (start is None and (last - date.min).days < DEFAULT_DAYS - 1):
        raise FieldError(
            "to", f"to {last} is out of range; give a day from 0001-01-30 to 9999-12-30"
        )
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise FieldError("from", f"from {first} is after to {last}; swap them")
    if (last - first).days >= MAX_DAYS:
        raise FieldError(
            "from", f"the period is {(last - first).days + 1} days; ask for at most {MAX_DAYS}"
        )
    return first, last


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) instants of the days first..last, UTC."""
    return datetime.combine(first, time(), UTC), datetime.combine(
        last + timedelta(days=1), time(), UTC
    )


async def scoped_personas(runtime: Runtime, staff: Principal, persona: str | None) -> list[str]:
    """The personas a request may read: the one named (if the caller may touch it), else
    every persona for an admin and a creator's own for a creator."""
    if persona is not None:
        if not staff.may_touch(persona):
            raise PersonaNotFound(persona)
        await runtime.store.get_persona(persona, latest=True)
        return [persona]
    if staff.is_admin:
        return await runtime.store.persona_slugs()
    return sorted(staff.personas)


def analytics_json(
    found: Analytics, persona: str | None, first: date, last: date
) -> dict[str, Any]:
    return {
        "persona": persona,
        "personas": list(found.personas),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "totals": found.totals,
        "latency": found.latency,
        "statuses": found.statuses,
        "safety_categories": found.categories,
        "ratings": found.ratings,
        "daily": found.daily,
        "weekly": found.weekly,
        "retention": found.retention,
    }


def to_csv(body: dict[str, Any]) -> str:
    """One figure per line: section, day (or cohort/week), metric, value."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["section", "day", "metric", "value"])
    for section in ("totals", "latency", "statuses", "safety_categories", "ratings"):
        for metric, value in body[section].items():
            rows.writerow([section, "", metric, "" if value is None else value])
    for key, section in (("day", "daily"), ("week", "weekly"), ("cohort", "retention")):
        for item in body[section]:
            for metric, value in item.items():
                if metric != key:
                    rows.writerow([section, item[key], metric, value])
    return out.getvalue()
