"""GET /metrics: Prometheus' text format. It tells a lot about traffic (webhook rates, queue
depth), so it takes the admin token unless PERSONAE_METRICS_PUBLIC allows a private scraper."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from personae.core.turn import TURN
from personae.memory.work import MEMORY
from personae.metrics import exposition, observe_backlog
from personae.server.deps import RuntimeDep, require_admin, server_state

router = APIRouter(tags=["health"])

_TEXT = {"text/plain": {"schema": {"type": "string"}}}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Metrics in Prometheus' text format", "content": _TEXT}},
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    """Turn latency by stage, queue depth and age, engine requests per endpoint, webhook
    acknowledgements, outbox retries."""
    if not server_state(request).settings.metrics_public:
        await require_admin(request)
    # Read at scrape time, so the figures are current whichever process ran the jobs.
    observe_backlog(await runtime.store.work_depth(), (TURN, MEMORY))
    body, content_type = exposition()
    return Response(body, media_type=content_type)
